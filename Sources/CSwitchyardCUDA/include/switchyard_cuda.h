// The CUDA driver API and NVRTC, loaded with dlopen at run time and never linked, so that the package builds and
// tests on machines with no CUDA. Only the few types and functions Switchyard uses are declared here, with the
// types reduced to their ABI: results are ints, device pointers 64-bit integers, handles opaque pointers.
//
// Every function is a thin wrapper around a pointer in a table that sy_cuda_load / sy_nvrtc_load fill. Before a
// successful load, or when the loaded library lacks a symbol, a wrapper returns SY_ERROR_NOT_LOADED.
#pragma once

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Returned by every wrapper whose library (or symbol) is not loaded. Not a code either library uses.
#define SY_ERROR_NOT_LOADED (-1)

typedef int sy_CUresult;
typedef int sy_CUdevice;
typedef unsigned long long sy_CUdeviceptr;
typedef struct sy_CUctx_st *sy_CUcontext;
typedef struct sy_CUmod_st *sy_CUmodule;
typedef struct sy_CUfunc_st *sy_CUfunction;
typedef struct sy_CUstream_st *sy_CUstream;
typedef struct sy_CUevent_st *sy_CUevent;

/// Number of 64-bit words in a CUtensorMap (128 bytes). The driver needs the struct 64-byte aligned; CUDA 13's
/// header aligns it to 128, and the wrapper below keeps its own 128-aligned copy, so callers may pass any buffer.
#define SY_TENSOR_MAP_WORDS 16

/// CUdevice_attribute values used by Switchyard.
enum {
    SY_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
    SY_CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE = 38,
    SY_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
    SY_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
    SY_CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
};

/// CUfunction_attribute values used by Switchyard.
enum {
    SY_CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 0,
    SY_CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES = 1,
    SY_CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES = 3,
    SY_CU_FUNC_ATTRIBUTE_NUM_REGS = 4,
    SY_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,
};

/// CUtensorMapDataType, CUtensorMapSwizzle and CUtensorMapL2promotion values used by Switchyard.
enum {
    SY_CU_TENSOR_MAP_DATA_TYPE_UINT8 = 0,
    SY_CU_TENSOR_MAP_DATA_TYPE_FLOAT32 = 7,
    SY_CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 = 9,
    SY_CU_TENSOR_MAP_SWIZZLE_NONE = 0,
    SY_CU_TENSOR_MAP_SWIZZLE_128B = 3,
    SY_CU_TENSOR_MAP_L2_PROMOTION_L2_256B = 3,
};

/// Loads the driver library at `path` (a file path or a soname). Returns 0 on success; otherwise non-zero with a
/// message in `err`. Loading again after a success does nothing and returns 0. Thread-safe.
int sy_cuda_load(const char *path, char *err, size_t errlen);
/// 1 when the driver table is loaded.
int sy_cuda_is_loaded(void);

/// Opens the library at `path` and keeps it loaded, so that a later dlopen of its soname (as NVRTC does for
/// libnvrtc-builtins) finds it. Returns 0 on success, else a message in `err`.
int sy_library_preload(const char *path, char *err, size_t errlen);

/// Checks that the library at `path` can be opened (then closes it). Returns 0 on success, else a message in `err`.
int sy_library_probe(const char *path, char *err, size_t errlen);

sy_CUresult sy_cuInit(unsigned int flags);
sy_CUresult sy_cuDriverGetVersion(int *version);
sy_CUresult sy_cuGetErrorName(sy_CUresult error, const char **name);
sy_CUresult sy_cuGetErrorString(sy_CUresult error, const char **message);
sy_CUresult sy_cuDeviceGetCount(int *count);
sy_CUresult sy_cuDeviceGet(sy_CUdevice *device, int ordinal);
sy_CUresult sy_cuDeviceGetName(char *name, int length, sy_CUdevice device);
sy_CUresult sy_cuDeviceGetPCIBusId(char *bus_id, int length, sy_CUdevice device);
sy_CUresult sy_cuDeviceGetAttribute(int *value, int attribute, sy_CUdevice device);
sy_CUresult sy_cuDeviceTotalMem(size_t *bytes, sy_CUdevice device);
sy_CUresult sy_cuDevicePrimaryCtxRetain(sy_CUcontext *context, sy_CUdevice device);
sy_CUresult sy_cuDevicePrimaryCtxRelease(sy_CUdevice device);
sy_CUresult sy_cuCtxSetCurrent(sy_CUcontext context);
sy_CUresult sy_cuCtxSynchronize(void);
sy_CUresult sy_cuMemGetInfo(size_t *free, size_t *total);
sy_CUresult sy_cuMemAlloc(sy_CUdeviceptr *address, size_t bytes);
sy_CUresult sy_cuMemFree(sy_CUdeviceptr address);
sy_CUresult sy_cuMemcpyHtoD(sy_CUdeviceptr destination, const void *source, size_t bytes);
sy_CUresult sy_cuMemcpyDtoH(void *destination, sy_CUdeviceptr source, size_t bytes);
sy_CUresult sy_cuMemcpyDtoDAsync(sy_CUdeviceptr destination, sy_CUdeviceptr source, size_t bytes, sy_CUstream stream);
sy_CUresult sy_cuMemsetD8(sy_CUdeviceptr destination, unsigned char value, size_t count);
sy_CUresult sy_cuStreamCreate(sy_CUstream *stream, unsigned int flags);
sy_CUresult sy_cuStreamDestroy(sy_CUstream stream);
sy_CUresult sy_cuStreamSynchronize(sy_CUstream stream);
sy_CUresult sy_cuEventCreate(sy_CUevent *event, unsigned int flags);
sy_CUresult sy_cuEventDestroy(sy_CUevent event);
sy_CUresult sy_cuEventRecord(sy_CUevent event, sy_CUstream stream);
sy_CUresult sy_cuStreamWaitEvent(sy_CUstream stream, sy_CUevent event, unsigned int flags);
sy_CUresult sy_cuEventSynchronize(sy_CUevent event);
sy_CUresult sy_cuEventElapsedTime(float *milliseconds, sy_CUevent start, sy_CUevent end);
sy_CUresult sy_cuModuleLoadData(sy_CUmodule *module, const void *image);
sy_CUresult sy_cuModuleUnload(sy_CUmodule module);
sy_CUresult sy_cuModuleGetFunction(sy_CUfunction *function, sy_CUmodule module, const char *name);
sy_CUresult sy_cuFuncGetAttribute(int *value, int attribute, sy_CUfunction function);
sy_CUresult sy_cuFuncSetAttribute(sy_CUfunction function, int attribute, int value);
sy_CUresult sy_cuLaunchKernel(sy_CUfunction function,
                              unsigned int gridX, unsigned int gridY, unsigned int gridZ,
                              unsigned int blockX, unsigned int blockY, unsigned int blockZ,
                              unsigned int sharedMemoryBytes, sy_CUstream stream, void **parameters, void **extra);
/// cuOccupancyMaxActiveClusters for a kernel whose cluster shape is compiled in (`__cluster_dims__`): how many of
/// its clusters can be resident at once with `blockX` threads and `sharedMemoryBytes` of dynamic shared memory per
/// block, for a grid of `gridX` blocks (a multiple of the cluster size). SY_ERROR_NOT_LOADED when the driver lacks
/// the entry point (before CUDA 12.0).
sy_CUresult sy_cuOccupancyMaxActiveClusters(int *clusters, sy_CUfunction function, unsigned int gridX,
                                            unsigned int blockX, unsigned int sharedMemoryBytes);
/// cuTensorMapEncodeTiled; the encoded map is copied to `words` (SY_TENSOR_MAP_WORDS 64-bit words).
sy_CUresult sy_cuTensorMapEncodeTiled(unsigned long long *words, int dataType, unsigned int rank, void *address,
                                      const unsigned long long *dimensions, const unsigned long long *strides,
                                      const unsigned int *box, const unsigned int *elementStrides,
                                      int interleave, int swizzle, int l2Promotion, int oobFill);

typedef int sy_nvrtcResult;
typedef struct sy_nvrtcProgram_st *sy_nvrtcProgram;

/// Loads NVRTC from `path` (a file path or a soname), as sy_cuda_load does for the driver.
int sy_nvrtc_load(const char *path, char *err, size_t errlen);
/// 1 when the NVRTC table is loaded.
int sy_nvrtc_is_loaded(void);

sy_nvrtcResult sy_nvrtcVersion(int *major, int *minor);
const char *sy_nvrtcGetErrorString(sy_nvrtcResult result);
sy_nvrtcResult sy_nvrtcCreateProgram(sy_nvrtcProgram *program, const char *source, const char *name,
                                     int headerCount, const char *const *headers, const char *const *includeNames);
sy_nvrtcResult sy_nvrtcDestroyProgram(sy_nvrtcProgram *program);
sy_nvrtcResult sy_nvrtcCompileProgram(sy_nvrtcProgram program, int optionCount, const char *const *options);
sy_nvrtcResult sy_nvrtcGetCUBINSize(sy_nvrtcProgram program, size_t *bytes);
sy_nvrtcResult sy_nvrtcGetCUBIN(sy_nvrtcProgram program, char *cubin);
sy_nvrtcResult sy_nvrtcGetProgramLogSize(sy_nvrtcProgram program, size_t *bytes);
sy_nvrtcResult sy_nvrtcGetProgramLog(sy_nvrtcProgram program, char *log);

#ifdef __cplusplus
}
#endif
