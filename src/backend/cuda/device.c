/* The CUDA runtime behind recur.h's device calls, and the helpers of
 * cuda_util.h. */
#include <cuda_runtime_api.h>
#include <stdio.h>

#include "backend/cuda/cuda_util.h"
#include "core/status.h"

recur_status cuda_check(int error, const char *what)
{
    if (error == (int)cudaSuccess)
        return RECUR_OK;
    cudaGetLastError(); /* clears a sticky-free error so that later calls can go on */
    return recur_fail(error == (int)cudaErrorMemoryAllocation ? RECUR_E_NOMEM : RECUR_E_DEVICE,
                      "CUDA %s failed: %s", what, cudaGetErrorString((cudaError_t)error));
}

int recur_cuda_device_count(void)
{
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return count;
}

recur_status cuda_require_device(void)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return recur_fail(RECUR_E_INVALID, "no CUDA GPU is usable: %s", cudaGetErrorString(e));
    }
    if (count < 1)
        return recur_fail(RECUR_E_INVALID, "no CUDA GPU is present");
    return RECUR_OK;
}

void recur_cuda_describe(char *buf, size_t size)
{
    if (!buf || size == 0)
        return;
    int runtime = 0, count = 0;
    cudaRuntimeGetVersion(&runtime);
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count < 1) {
        cudaGetLastError();
        snprintf(buf, size, "no CUDA GPU (CUDA runtime %d.%d: %s)", runtime / 1000,
                 runtime % 1000 / 10, e != cudaSuccess ? cudaGetErrorString(e) : "no device");
        return;
    }
    struct cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
        cudaGetLastError();
        snprintf(buf, size, "CUDA GPU 0 (properties unavailable)");
        return;
    }
    snprintf(buf, size, "%s, sm_%d%d, %d SMs, %.0f GiB, CUDA runtime %d.%d", prop.name,
             prop.major, prop.minor, prop.multiProcessorCount,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), runtime / 1000,
             runtime % 1000 / 10);
}

recur_status cuda_buffer_reserve(cuda_buffer *buffer, size_t bytes)
{
    if (buffer->size >= bytes && buffer->ptr)
        return RECUR_OK;
    cuda_buffer_release(buffer);
    void *ptr = NULL;
    RECUR_TRY(cuda_check((int)cudaMalloc(&ptr, bytes ? bytes : 1), "cudaMalloc"));
    buffer->ptr = ptr;
    buffer->size = bytes;
    return RECUR_OK;
}

void cuda_buffer_release(cuda_buffer *buffer)
{
    if (buffer->ptr)
        cudaFree(buffer->ptr);
    buffer->ptr = NULL;
    buffer->size = 0;
}

recur_status recur_cuda_malloc(void **ptr, size_t bytes)
{
    if (!ptr)
        return recur_fail(RECUR_E_INVALID, "recur_cuda_malloc: NULL pointer");
    *ptr = NULL;
    RECUR_TRY(cuda_require_device());
    return cuda_check((int)cudaMalloc(ptr, bytes ? bytes : 1), "cudaMalloc");
}

void recur_cuda_free(void *ptr)
{
    if (ptr)
        cudaFree(ptr);
}

recur_status recur_cuda_memcpy(void *dst, const void *src, size_t bytes, recur_copy_kind kind)
{
    static const enum cudaMemcpyKind kinds[] = {cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost,
                                                cudaMemcpyDeviceToDevice};
    if ((int)kind < 0 || kind > RECUR_DEVICE_TO_DEVICE)
        return recur_fail(RECUR_E_INVALID, "recur_cuda_memcpy: unknown kind %d", (int)kind);
    if (bytes == 0)
        return RECUR_OK;
    if (!dst || !src)
        return recur_fail(RECUR_E_INVALID, "recur_cuda_memcpy: NULL pointer");
    return cuda_check((int)cudaMemcpy(dst, src, bytes, kinds[kind]), "cudaMemcpy");
}

recur_status recur_cuda_synchronize(void)
{
    return cuda_check((int)cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}
