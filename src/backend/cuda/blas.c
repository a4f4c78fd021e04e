/* cuBLAS through dlopen (see blas.h). */
#include "backend/cuda/blas.h"

#include <dlfcn.h>
#include <string.h>

#include "backend/cuda/cuda_util.h"
#include "core/status.h"

/* The library the build compiled against: its path, then its soname as the
 * dynamic loader finds it (LD_LIBRARY_PATH, the cache) on another machine. */
static void *load_library(void)
{
    static const char *const names[] = {RECUR_CUBLAS_PATH, RECUR_CUBLAS_SONAME};
    void *library = NULL;
    for (size_t i = 0; !library && i < sizeof names / sizeof names[0]; i++)
        library = dlopen(names[i], RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    return library;
}

/* *slot = the symbol `name` of the library (C's function-pointer conversion
 * from dlsym's object pointer goes through memcpy). */
static int resolve(void *library, const char *name, void *slot, size_t size)
{
    void *symbol = dlsym(library, name);
    if (!symbol)
        return 0;
    memcpy(slot, &symbol, size);
    return 1;
}

#define RESOLVE(field, symbol) resolve(library, #symbol, &blas->field, sizeof blas->field)

recur_status cuda_blas_open(cuda_blas *blas, cudaStream_t stream)
{
    memset(blas, 0, sizeof *blas);
    void *library = load_library();
    if (!library)
        return recur_fail(RECUR_E_DEVICE, "cannot load cuBLAS (%s): %s", RECUR_CUBLAS_SONAME,
                          dlerror());
    __typeof__(&cublasCreate_v2) create = NULL;
    const int resolved = resolve(library, "cublasCreate_v2", &create, sizeof create) &&
                         RESOLVE(destroy, cublasDestroy_v2) &&
                         RESOLVE(set_stream, cublasSetStream_v2) &&
                         RESOLVE(set_workspace, cublasSetWorkspace_v2) &&
                         RESOLVE(set_math_mode, cublasSetMathMode) &&
                         RESOLVE(sgemm, cublasSgemm_v2) && RESOLVE(gemm_ex, cublasGemmEx) &&
                         RESOLVE(sgemv, cublasSgemv_v2);
    if (!resolved) {
        memset(blas, 0, sizeof *blas);
        return recur_fail(RECUR_E_DEVICE, "%s lacks a function recur calls: %s",
                          RECUR_CUBLAS_SONAME, dlerror());
    }
    blas->library = library;
    recur_status st = cuda_blas_check(create(&blas->handle), "create");
    if (st == RECUR_OK && stream)
        st = cuda_blas_check(blas->set_stream(blas->handle, stream), "set stream");
    if (st == RECUR_OK)
        st = cuda_blas_check(blas->set_math_mode(blas->handle, CUBLAS_DEFAULT_MATH),
                             "set math mode");
    if (st != RECUR_OK) {
        cuda_blas_close(blas);
        memset(blas, 0, sizeof *blas);
    }
    return st;
}

void cuda_blas_close(cuda_blas *blas)
{
    if (blas->handle && blas->destroy)
        blas->destroy(blas->handle);
    blas->handle = NULL;
}
