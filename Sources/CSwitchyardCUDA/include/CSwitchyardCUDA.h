// Umbrella header of the C shim: CUDA driver, NVRTC (switchyard_cuda.h), NCCL (switchyard_nccl.h) and NVML
// (switchyard_nvml.h), all loaded with dlopen at run time so that the package builds and tests where no CUDA is
// installed.
#pragma once
#include "switchyard_cuda.h"
#include "switchyard_nccl.h"
#include "switchyard_nvml.h"
