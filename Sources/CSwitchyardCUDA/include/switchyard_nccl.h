// NCCL, loaded with dlopen at run time (never linked), so that the package builds and tests with no NCCL installed.
// Only the few types and functions that Switchyard uses are declared; names mirror NCCL's with the prefix sy_nccl.
// Every function returns an NCCL result code (0 = success) or SY_NCCL_NOT_LOADED when libnccl could not be loaded.
#pragma once
#if defined(__linux__)
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Returned by every wrapper when libnccl.so.2 is not loaded; not an NCCL code.
#define SY_NCCL_NOT_LOADED 1000
/// Returned when NCCL_NVLS_ENABLE is set to anything other than "0": NVLink multicast must stay off.
#define SY_NCCL_MULTICAST_REFUSED 1001
#define SY_NCCL_UNIQUE_ID_BYTES 128

typedef struct sy_nccl_comm *sy_nccl_comm_t;
typedef struct { char internal[SY_NCCL_UNIQUE_ID_BYTES]; } sy_nccl_unique_id;

/// ncclDataType_t values (NCCL 2.19+ numbering).
enum {
    sy_nccl_int8 = 0, sy_nccl_uint8 = 1, sy_nccl_int32 = 2, sy_nccl_uint32 = 3, sy_nccl_int64 = 4,
    sy_nccl_uint64 = 5, sy_nccl_float16 = 6, sy_nccl_float32 = 7, sy_nccl_float64 = 8, sy_nccl_bfloat16 = 9,
    sy_nccl_float8e4m3 = 10, sy_nccl_float8e5m2 = 11
};
/// ncclRedOp_t values.
enum { sy_nccl_sum = 0, sy_nccl_prod = 1, sy_nccl_max = 2, sy_nccl_min = 3 };

/// Loads libnccl: `path` when not NULL, else $SWITCHYARD_NCCL_LIBRARY, else libnccl.so.2 from the loader path.
/// Sets NCCL_NVLS_ENABLE=0 when unset and refuses (SY_NCCL_MULTICAST_REFUSED) when it is set to anything else.
/// Safe to call more than once; returns 0 once loaded. `message` (may be NULL) receives dlerror's text on failure.
int sy_nccl_load(const char *path, char *message, size_t message_size);
int sy_nccl_is_loaded(void);

int sy_nccl_get_version(int *version);
const char *sy_nccl_get_error_string(int result);
int sy_nccl_get_unique_id(sy_nccl_unique_id *id);
int sy_nccl_comm_init_rank(sy_nccl_comm_t *comm, int ranks, const sy_nccl_unique_id *id, int rank);
int sy_nccl_comm_init_all(sy_nccl_comm_t *comms, int devices, const int *device_list);
int sy_nccl_comm_destroy(sy_nccl_comm_t comm);
int sy_nccl_comm_count(sy_nccl_comm_t comm, int *count);
int sy_nccl_comm_user_rank(sy_nccl_comm_t comm, int *rank);
int sy_nccl_group_start(void);
int sy_nccl_group_end(void);
// `stream` is a CUstream / cudaStream_t (NULL: the legacy default stream).
int sy_nccl_send(const void *buffer, size_t count, int datatype, int peer, sy_nccl_comm_t comm, void *stream);
int sy_nccl_recv(void *buffer, size_t count, int datatype, int peer, sy_nccl_comm_t comm, void *stream);
int sy_nccl_all_gather(const void *send, void *receive, size_t send_count, int datatype, sy_nccl_comm_t comm,
                       void *stream);
int sy_nccl_reduce_scatter(const void *send, void *receive, size_t receive_count, int datatype, int op,
                           sy_nccl_comm_t comm, void *stream);
int sy_nccl_all_reduce(const void *send, void *receive, size_t count, int datatype, int op, sy_nccl_comm_t comm,
                       void *stream);

#ifdef __cplusplus
}
#endif
#endif
