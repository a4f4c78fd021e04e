/* Scalar activations shared by the cell kernels. */
#ifndef RECUR_BACKEND_CPU_ACTIVATIONS_H
#define RECUR_BACKEND_CPU_ACTIVATIONS_H

#include <math.h>

static inline float recur_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

#endif
