# Sourced by bench/gpu_check.sh and bench/gpu_mpi_check.sh with $bin set to a
# bundle of bench/gpu_bundle.sh: LD_LIBRARY_PATH for its libraries and for
# cuBLAS and NCCL, which the bundle leaves out (the lent machine has them: the
# CUDA toolkit's, or those of PyTorch's wheels).
export LD_LIBRARY_PATH=$bin/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
for lib in libcublas.so.13 libnccl.so.2; do
  ldconfig -p 2>/dev/null | grep -q "$lib" && continue
  found=$(find /usr/local/cuda/lib64 /usr/local/cuda/targets /usr/local/lib /opt /usr/lib \
            -name "$lib" 2>/dev/null | head -1)
  [[ -n $found ]] && export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$(dirname "$found")
done
