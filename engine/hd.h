// UNRAVEL_HD marks functions compiled for both the host and CUDA devices.
#pragma once
#if defined(__CUDACC__)
#define UNRAVEL_HD __host__ __device__ __forceinline__
#else
#define UNRAVEL_HD inline
#endif
