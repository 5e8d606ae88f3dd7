// dlopen-based loader for the CUDA driver and NVRTC (see switchyard_cuda.h). The tables below name each symbol
// as the driver exports it: where cuda.h maps a name to a versioned ABI (cuMemAlloc -> cuMemAlloc_v2), the
// versioned one is loaded, since the plain names are the old ABI.
#include "switchyard_cuda.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

// X-macro list: wrapper name, exported symbol, return type, parameter list, argument list.
#define SY_CUDA_FUNCTIONS(X) \
    X(cuInit, "cuInit", (unsigned int a), (a)) \
    X(cuDriverGetVersion, "cuDriverGetVersion", (int *a), (a)) \
    X(cuGetErrorName, "cuGetErrorName", (sy_CUresult a, const char **b), (a, b)) \
    X(cuGetErrorString, "cuGetErrorString", (sy_CUresult a, const char **b), (a, b)) \
    X(cuDeviceGetCount, "cuDeviceGetCount", (int *a), (a)) \
    X(cuDeviceGet, "cuDeviceGet", (sy_CUdevice *a, int b), (a, b)) \
    X(cuDeviceGetName, "cuDeviceGetName", (char *a, int b, sy_CUdevice c), (a, b, c)) \
    X(cuDeviceGetPCIBusId, "cuDeviceGetPCIBusId", (char *a, int b, sy_CUdevice c), (a, b, c)) \
    X(cuDeviceGetAttribute, "cuDeviceGetAttribute", (int *a, int b, sy_CUdevice c), (a, b, c)) \
    X(cuDeviceTotalMem, "cuDeviceTotalMem_v2", (size_t *a, sy_CUdevice b), (a, b)) \
    X(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", (sy_CUcontext *a, sy_CUdevice b), (a, b)) \
    X(cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", (sy_CUdevice a), (a)) \
    X(cuCtxSetCurrent, "cuCtxSetCurrent", (sy_CUcontext a), (a)) \
    X(cuCtxSynchronize, "cuCtxSynchronize", (void), ()) \
    X(cuMemGetInfo, "cuMemGetInfo_v2", (size_t *a, size_t *b), (a, b)) \
    X(cuMemAlloc, "cuMemAlloc_v2", (sy_CUdeviceptr *a, size_t b), (a, b)) \
    X(cuMemFree, "cuMemFree_v2", (sy_CUdeviceptr a), (a)) \
    X(cuMemcpyHtoD, "cuMemcpyHtoD_v2", (sy_CUdeviceptr a, const void *b, size_t c), (a, b, c)) \
    X(cuMemcpyDtoH, "cuMemcpyDtoH_v2", (void *a, sy_CUdeviceptr b, size_t c), (a, b, c)) \
    X(cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2", (sy_CUdeviceptr a, sy_CUdeviceptr b, size_t c, sy_CUstream d), \
      (a, b, c, d)) \
    X(cuMemsetD8, "cuMemsetD8_v2", (sy_CUdeviceptr a, unsigned char b, size_t c), (a, b, c)) \
    X(cuStreamCreate, "cuStreamCreate", (sy_CUstream *a, unsigned int b), (a, b)) \
    X(cuStreamDestroy, "cuStreamDestroy_v2", (sy_CUstream a), (a)) \
    X(cuStreamSynchronize, "cuStreamSynchronize", (sy_CUstream a), (a)) \
    X(cuEventCreate, "cuEventCreate", (sy_CUevent *a, unsigned int b), (a, b)) \
    X(cuEventDestroy, "cuEventDestroy_v2", (sy_CUevent a), (a)) \
    X(cuEventRecord, "cuEventRecord", (sy_CUevent a, sy_CUstream b), (a, b)) \
    X(cuStreamWaitEvent, "cuStreamWaitEvent", (sy_CUstream a, sy_CUevent b, unsigned int c), (a, b, c)) \
    X(cuEventSynchronize, "cuEventSynchronize", (sy_CUevent a), (a)) \
    X(cuEventElapsedTime, "cuEventElapsedTime_v2", (float *a, sy_CUevent b, sy_CUevent c), (a, b, c)) \
    X(cuModuleLoadData, "cuModuleLoadData", (sy_CUmodule *a, const void *b), (a, b)) \
    X(cuModuleUnload, "cuModuleUnload", (sy_CUmodule a), (a)) \
    X(cuModuleGetFunction, "cuModuleGetFunction", (sy_CUfunction *a, sy_CUmodule b, const char *c), (a, b, c)) \
    X(cuFuncGetAttribute, "cuFuncGetAttribute", (int *a, int b, sy_CUfunction c), (a, b, c)) \
    X(cuFuncSetAttribute, "cuFuncSetAttribute", (sy_CUfunction a, int b, int c), (a, b, c)) \
    X(cuLaunchKernel, "cuLaunchKernel", \
      (sy_CUfunction a, unsigned int b, unsigned int c, unsigned int d, unsigned int e, unsigned int f, \
       unsigned int g, unsigned int h, sy_CUstream i, void **j, void **k), \
      (a, b, c, d, e, f, g, h, i, j, k))

#define SY_NVRTC_FUNCTIONS(X) \
    X(nvrtcVersion, "nvrtcVersion", (int *a, int *b), (a, b)) \
    X(nvrtcCreateProgram, "nvrtcCreateProgram", \
      (sy_nvrtcProgram *a, const char *b, const char *c, int d, const char *const *e, const char *const *f), \
      (a, b, c, d, e, f)) \
    X(nvrtcDestroyProgram, "nvrtcDestroyProgram", (sy_nvrtcProgram *a), (a)) \
    X(nvrtcCompileProgram, "nvrtcCompileProgram", (sy_nvrtcProgram a, int b, const char *const *c), (a, b, c)) \
    X(nvrtcGetCUBINSize, "nvrtcGetCUBINSize", (sy_nvrtcProgram a, size_t *b), (a, b)) \
    X(nvrtcGetCUBIN, "nvrtcGetCUBIN", (sy_nvrtcProgram a, char *b), (a, b)) \
    X(nvrtcGetProgramLogSize, "nvrtcGetProgramLogSize", (sy_nvrtcProgram a, size_t *b), (a, b)) \
    X(nvrtcGetProgramLog, "nvrtcGetProgramLog", (sy_nvrtcProgram a, char *b), (a, b))

typedef sy_CUresult (*sy_tensor_map_encode_fn)(void *, int, unsigned int, void *, const unsigned long long *,
                                               const unsigned long long *, const unsigned int *,
                                               const unsigned int *, int, int, int, int);
typedef const char *(*sy_nvrtc_error_string_fn)(sy_nvrtcResult);
// CUlaunchConfig as cuda.h lays it out (CUDA 12): grid and block dimensions, dynamic shared memory, stream, and the
// launch attributes (none here: the kernels' cluster shape is compiled in).
typedef struct {
    unsigned int gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes;
    sy_CUstream hStream;
    void *attrs;
    unsigned int numAttrs;
} sy_launch_config;
typedef sy_CUresult (*sy_max_active_clusters_fn)(int *, sy_CUfunction, const sy_launch_config *);

#define SY_FIELD(name, symbol, params, args) int (*name) params;

static struct {
    SY_CUDA_FUNCTIONS(SY_FIELD)
    sy_tensor_map_encode_fn cuTensorMapEncodeTiled;
    sy_max_active_clusters_fn cuOccupancyMaxActiveClusters;  // optional: NULL before CUDA 12.0
    int loaded;
} sy_cuda;

static struct {
    SY_NVRTC_FUNCTIONS(SY_FIELD)
    sy_nvrtc_error_string_fn nvrtcGetErrorString;
    int loaded;
} sy_nvrtc;

static pthread_mutex_t sy_load_lock = PTHREAD_MUTEX_INITIALIZER;

static void sy_message(char *err, size_t errlen, const char *format, const char *a, const char *b) {
    if (err != NULL && errlen > 0) {
        snprintf(err, errlen, format, a, b);
    }
}

static void *sy_open(const char *path, char *err, size_t errlen) {
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        const char *reason = dlerror();
        sy_message(err, errlen, "%s%s", reason != NULL ? reason : "cannot open ", reason != NULL ? "" : path);
    }
    return handle;
}

// Resolves one symbol into *slot; on failure writes a message and returns -1.
static int sy_resolve(void *handle, const char *symbol, void **slot, const char *path, char *err, size_t errlen) {
    *slot = dlsym(handle, symbol);
    if (*slot == NULL) {
        sy_message(err, errlen, "%s has no symbol %s (too old a version?)", path, symbol);
        return -1;
    }
    return 0;
}

#define SY_RESOLVE_CUDA(name, symbol, params, args) \
    if (status == 0) status = sy_resolve(handle, symbol, (void **)&sy_cuda.name, path, err, errlen);
#define SY_RESOLVE_NVRTC(name, symbol, params, args) \
    if (status == 0) status = sy_resolve(handle, symbol, (void **)&sy_nvrtc.name, path, err, errlen);

int sy_cuda_load(const char *path, char *err, size_t errlen) {
    pthread_mutex_lock(&sy_load_lock);
    int status = 0;
    if (!sy_cuda.loaded) {
        void *handle = sy_open(path, err, errlen);
        status = handle == NULL ? -1 : 0;
        SY_CUDA_FUNCTIONS(SY_RESOLVE_CUDA)
        if (status == 0) {
            status = sy_resolve(handle, "cuTensorMapEncodeTiled", (void **)&sy_cuda.cuTensorMapEncodeTiled, path,
                                err, errlen);
        }
        if (status == 0) {
            sy_cuda.cuOccupancyMaxActiveClusters =
                (sy_max_active_clusters_fn)dlsym(handle, "cuOccupancyMaxActiveClusters");
            sy_cuda.loaded = 1;
        } else if (handle != NULL) {
            memset(&sy_cuda, 0, sizeof sy_cuda);
            dlclose(handle);
        }
    }
    pthread_mutex_unlock(&sy_load_lock);
    return status;
}

int sy_nvrtc_load(const char *path, char *err, size_t errlen) {
    pthread_mutex_lock(&sy_load_lock);
    int status = 0;
    if (!sy_nvrtc.loaded) {
        void *handle = sy_open(path, err, errlen);
        status = handle == NULL ? -1 : 0;
        SY_NVRTC_FUNCTIONS(SY_RESOLVE_NVRTC)
        if (status == 0) {
            status = sy_resolve(handle, "nvrtcGetErrorString", (void **)&sy_nvrtc.nvrtcGetErrorString, path,
                                err, errlen);
        }
        if (status == 0) {
            sy_nvrtc.loaded = 1;
        } else if (handle != NULL) {
            memset(&sy_nvrtc, 0, sizeof sy_nvrtc);
            dlclose(handle);
        }
    }
    pthread_mutex_unlock(&sy_load_lock);
    return status;
}

int sy_cuda_is_loaded(void) { return sy_cuda.loaded; }
int sy_nvrtc_is_loaded(void) { return sy_nvrtc.loaded; }

int sy_library_preload(const char *path, char *err, size_t errlen) {
    return sy_open(path, err, errlen) == NULL ? -1 : 0;
}

int sy_library_probe(const char *path, char *err, size_t errlen) {
    void *handle = sy_open(path, err, errlen);
    if (handle == NULL) {
        return -1;
    }
    dlclose(handle);
    return 0;
}

#define SY_DEFINE_CUDA(name, symbol, params, args) \
    sy_CUresult sy_##name params { return sy_cuda.loaded ? sy_cuda.name args : SY_ERROR_NOT_LOADED; }
#define SY_DEFINE_NVRTC(name, symbol, params, args) \
    sy_nvrtcResult sy_##name params { return sy_nvrtc.loaded ? sy_nvrtc.name args : SY_ERROR_NOT_LOADED; }

SY_CUDA_FUNCTIONS(SY_DEFINE_CUDA)
SY_NVRTC_FUNCTIONS(SY_DEFINE_NVRTC)

const char *sy_nvrtcGetErrorString(sy_nvrtcResult result) {
    return sy_nvrtc.loaded ? sy_nvrtc.nvrtcGetErrorString(result) : "NVRTC is not loaded";
}

typedef struct {
    _Alignas(128) unsigned long long words[SY_TENSOR_MAP_WORDS];
} sy_tensor_map;

sy_CUresult sy_cuTensorMapEncodeTiled(unsigned long long *words, int dataType, unsigned int rank, void *address,
                                      const unsigned long long *dimensions, const unsigned long long *strides,
                                      const unsigned int *box, const unsigned int *elementStrides,
                                      int interleave, int swizzle, int l2Promotion, int oobFill) {
    if (!sy_cuda.loaded) {
        return SY_ERROR_NOT_LOADED;
    }
    sy_tensor_map map;
    memset(&map, 0, sizeof map);
    sy_CUresult result = sy_cuda.cuTensorMapEncodeTiled(&map, dataType, rank, address, dimensions, strides, box,
                                                        elementStrides, interleave, swizzle, l2Promotion, oobFill);
    memcpy(words, map.words, sizeof map.words);
    return result;
}

sy_CUresult sy_cuOccupancyMaxActiveClusters(int *clusters, sy_CUfunction function, unsigned int gridX,
                                            unsigned int blockX, unsigned int sharedMemoryBytes) {
    if (!sy_cuda.loaded || sy_cuda.cuOccupancyMaxActiveClusters == NULL) {
        return SY_ERROR_NOT_LOADED;
    }
    sy_launch_config config;
    memset(&config, 0, sizeof config);
    config.gridDimX = gridX;
    config.gridDimY = 1;
    config.gridDimZ = 1;
    config.blockDimX = blockX;
    config.blockDimY = 1;
    config.blockDimZ = 1;
    config.sharedMemBytes = sharedMemoryBytes;
    return sy_cuda.cuOccupancyMaxActiveClusters(clusters, function, &config);
}
