// NVML (libnvidia-ml.so.1, installed with the NVIDIA driver), loaded with dlopen: the SM clock, board power and
// GPU temperature of one device, which `switchyard bench` samples while it times (the H100 and H200 run MoE layers
// at their power cap, so a time means little without its clock).
#pragma once
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// Loads NVML from `path` (a file or a soname) and initializes it, once per process; 0 on success, else -1 with the
// reason in `err`. Later calls return the first call's outcome.
int sy_nvml_load(const char *path, char *err, size_t errlen);
// The device whose PCI bus id is `bus_id` (as cuDeviceGetPCIBusId writes it); NVML's return code (0: success).
int sy_nvml_device_by_pci_bus_id(const char *bus_id, void **device);
// The current SM clock in MHz, the board's power draw in milliwatts, the GPU temperature in °C; NVML's return codes.
int sy_nvml_sm_clock(void *device, unsigned int *mhz);
int sy_nvml_power(void *device, unsigned int *milliwatts);
int sy_nvml_temperature(void *device, unsigned int *celsius);
// NVML's text for a return code ("NVML is not loaded" before sy_nvml_load succeeds).
const char *sy_nvml_error_string(int result);

#ifdef __cplusplus
}
#endif
