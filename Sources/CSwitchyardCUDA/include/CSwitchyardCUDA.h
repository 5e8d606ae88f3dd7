// Umbrella header of the C shim: CUDA driver, NVRTC (switchyard_cuda.h) and NCCL (switchyard_nccl.h),
// all loaded with dlopen at run time so that the package builds and tests where no CUDA is installed.
#pragma once
#include "switchyard_cuda.h"
#include "switchyard_nccl.h"
