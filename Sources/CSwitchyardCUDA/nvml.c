// dlopen-based loader for NVML (see switchyard_nvml.h). NVML's handles are opaque pointers and its enums ints, so
// no NVML header is needed: the two enum values used are NVML_CLOCK_SM = 1 and NVML_TEMPERATURE_GPU = 0.
#include "switchyard_nvml.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

static struct {
    int tried, status;
    char message[512];
    int (*init)(void);
    int (*by_pci)(const char *, void **);
    int (*clock)(void *, int, unsigned int *);
    int (*power)(void *, unsigned int *);
    int (*temperature)(void *, int, unsigned int *);
    const char *(*error_string)(int);
} sy_nvml;
static pthread_mutex_t sy_nvml_lock = PTHREAD_MUTEX_INITIALIZER;

static int sy_nvml_fail(const char *what) {
    snprintf(sy_nvml.message, sizeof sy_nvml.message, "%s", what);
    return -1;
}

static int sy_nvml_open(const char *path) {
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        const char *reason = dlerror();
        return sy_nvml_fail(reason ? reason : "dlopen failed");
    }
    sy_nvml.init = (int (*)(void))dlsym(handle, "nvmlInit_v2");
    sy_nvml.by_pci = (int (*)(const char *, void **))dlsym(handle, "nvmlDeviceGetHandleByPciBusId_v2");
    sy_nvml.clock = (int (*)(void *, int, unsigned int *))dlsym(handle, "nvmlDeviceGetClockInfo");
    sy_nvml.power = (int (*)(void *, unsigned int *))dlsym(handle, "nvmlDeviceGetPowerUsage");
    sy_nvml.temperature = (int (*)(void *, int, unsigned int *))dlsym(handle, "nvmlDeviceGetTemperature");
    sy_nvml.error_string = (const char *(*)(int))dlsym(handle, "nvmlErrorString");
    if (!sy_nvml.init || !sy_nvml.by_pci || !sy_nvml.clock || !sy_nvml.power || !sy_nvml.temperature ||
        !sy_nvml.error_string) {
        dlclose(handle);
        return sy_nvml_fail("libnvidia-ml lacks an NVML function this needs (nvmlInit_v2, ...)");
    }
    const int result = sy_nvml.init();
    if (result != 0) {
        snprintf(sy_nvml.message, sizeof sy_nvml.message, "nvmlInit_v2: %s", sy_nvml.error_string(result));
        dlclose(handle);
        return -1;
    }
    return 0;
}

int sy_nvml_load(const char *path, char *err, size_t errlen) {
    pthread_mutex_lock(&sy_nvml_lock);
    if (!sy_nvml.tried) {
        sy_nvml.tried = 1;
        sy_nvml.status = sy_nvml_open(path);
    }
    const int status = sy_nvml.status;
    if (status != 0 && err != NULL && errlen > 0) snprintf(err, errlen, "%s", sy_nvml.message);
    pthread_mutex_unlock(&sy_nvml_lock);
    return status;
}

#define SY_NVML_LOADED (sy_nvml.tried && sy_nvml.status == 0)
#define SY_NVML_NOT_LOADED 999  // NVML_ERROR_UNKNOWN

int sy_nvml_device_by_pci_bus_id(const char *bus_id, void **device) {
    return SY_NVML_LOADED ? sy_nvml.by_pci(bus_id, device) : SY_NVML_NOT_LOADED;
}
int sy_nvml_sm_clock(void *device, unsigned int *mhz) {
    return SY_NVML_LOADED ? sy_nvml.clock(device, 1, mhz) : SY_NVML_NOT_LOADED;
}
int sy_nvml_power(void *device, unsigned int *milliwatts) {
    return SY_NVML_LOADED ? sy_nvml.power(device, milliwatts) : SY_NVML_NOT_LOADED;
}
int sy_nvml_temperature(void *device, unsigned int *celsius) {
    return SY_NVML_LOADED ? sy_nvml.temperature(device, 0, celsius) : SY_NVML_NOT_LOADED;
}
const char *sy_nvml_error_string(int result) {
    return SY_NVML_LOADED ? sy_nvml.error_string(result) : "NVML is not loaded";
}
