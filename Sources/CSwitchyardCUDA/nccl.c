// The NCCL half of the shim: resolves NCCL's entry points from libnccl.so.2 with dlopen/dlsym.
#if defined(__linux__)
#define _GNU_SOURCE
#include "switchyard_nccl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef sy_nccl_unique_id nccl_id;

static struct {
    void *library;
    int (*get_version)(int *);
    const char *(*get_error_string)(int);
    int (*get_unique_id)(nccl_id *);
    int (*comm_init_rank)(sy_nccl_comm_t *, int, nccl_id, int);
    int (*comm_init_all)(sy_nccl_comm_t *, int, const int *);
    int (*comm_destroy)(sy_nccl_comm_t);
    int (*comm_count)(sy_nccl_comm_t, int *);
    int (*comm_user_rank)(sy_nccl_comm_t, int *);
    int (*group_start)(void);
    int (*group_end)(void);
    int (*send)(const void *, size_t, int, int, sy_nccl_comm_t, void *);
    int (*recv)(void *, size_t, int, int, sy_nccl_comm_t, void *);
    int (*all_gather)(const void *, void *, size_t, int, sy_nccl_comm_t, void *);
    int (*reduce_scatter)(const void *, void *, size_t, int, int, sy_nccl_comm_t, void *);
    int (*all_reduce)(const void *, void *, size_t, int, int, sy_nccl_comm_t, void *);
} nccl;

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

static void report(char *message, size_t size, const char *text) {
    if (message != NULL && size > 0) snprintf(message, size, "%s", text != NULL ? text : "unknown error");
}

// Resolves every symbol; on the first missing one, closes the library and reports which.
static int resolve(void *library, char *message, size_t size) {
#define SY_RESOLVE(field, name)                                   \
    do {                                                          \
        *(void **)(&nccl.field) = dlsym(library, name);           \
        if (nccl.field == NULL) {                                 \
            report(message, size, "libnccl lacks symbol " name);  \
            return SY_NCCL_NOT_LOADED;                            \
        }                                                         \
    } while (0)
    SY_RESOLVE(get_version, "ncclGetVersion");
    SY_RESOLVE(get_error_string, "ncclGetErrorString");
    SY_RESOLVE(get_unique_id, "ncclGetUniqueId");
    SY_RESOLVE(comm_init_rank, "ncclCommInitRank");
    SY_RESOLVE(comm_init_all, "ncclCommInitAll");
    SY_RESOLVE(comm_destroy, "ncclCommDestroy");
    SY_RESOLVE(comm_count, "ncclCommCount");
    SY_RESOLVE(comm_user_rank, "ncclCommUserRank");
    SY_RESOLVE(group_start, "ncclGroupStart");
    SY_RESOLVE(group_end, "ncclGroupEnd");
    SY_RESOLVE(send, "ncclSend");
    SY_RESOLVE(recv, "ncclRecv");
    SY_RESOLVE(all_gather, "ncclAllGather");
    SY_RESOLVE(reduce_scatter, "ncclReduceScatter");
    SY_RESOLVE(all_reduce, "ncclAllReduce");
#undef SY_RESOLVE
    return 0;
}

int sy_nccl_load(const char *path, char *message, size_t message_size) {
    // Multicast (NVLS) can take a shared host's GPUs out of service: it stays off whatever the caller's environment.
    const char *nvls = getenv("NCCL_NVLS_ENABLE");
    if (nvls == NULL) {
        setenv("NCCL_NVLS_ENABLE", "0", 0);
    } else if (strcmp(nvls, "0") != 0) {
        report(message, message_size, "NCCL_NVLS_ENABLE must be 0 (NVLink multicast stays off)");
        return SY_NCCL_MULTICAST_REFUSED;
    }
    pthread_mutex_lock(&load_lock);
    int result = 0;
    if (nccl.library == NULL) {
        const char *name = path != NULL ? path : getenv("SWITCHYARD_NCCL_LIBRARY");
        void *library = dlopen(name != NULL ? name : "libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
        if (library == NULL) {
            report(message, message_size, dlerror());
            result = SY_NCCL_NOT_LOADED;
        } else if ((result = resolve(library, message, message_size)) != 0) {
            dlclose(library);
        } else {
            nccl.library = library;
        }
    }
    pthread_mutex_unlock(&load_lock);
    return result;
}

int sy_nccl_is_loaded(void) { return nccl.library != NULL; }

#define SY_REQUIRE_LOADED() \
    if (nccl.library == NULL) return SY_NCCL_NOT_LOADED

int sy_nccl_get_version(int *version) {
    SY_REQUIRE_LOADED();
    return nccl.get_version(version);
}

const char *sy_nccl_get_error_string(int result) {
    if (result == SY_NCCL_NOT_LOADED) return "libnccl.so.2 is not loaded";
    if (result == SY_NCCL_MULTICAST_REFUSED) return "NCCL_NVLS_ENABLE must be 0";
    if (nccl.library == NULL) return "unknown NCCL result (library not loaded)";
    return nccl.get_error_string(result);
}

int sy_nccl_get_unique_id(sy_nccl_unique_id *id) {
    SY_REQUIRE_LOADED();
    return nccl.get_unique_id(id);
}

int sy_nccl_comm_init_rank(sy_nccl_comm_t *comm, int ranks, const sy_nccl_unique_id *id, int rank) {
    SY_REQUIRE_LOADED();
    return nccl.comm_init_rank(comm, ranks, *id, rank);
}

int sy_nccl_comm_init_all(sy_nccl_comm_t *comms, int devices, const int *device_list) {
    SY_REQUIRE_LOADED();
    return nccl.comm_init_all(comms, devices, device_list);
}

int sy_nccl_comm_destroy(sy_nccl_comm_t comm) {
    SY_REQUIRE_LOADED();
    return nccl.comm_destroy(comm);
}

int sy_nccl_comm_count(sy_nccl_comm_t comm, int *count) {
    SY_REQUIRE_LOADED();
    return nccl.comm_count(comm, count);
}

int sy_nccl_comm_user_rank(sy_nccl_comm_t comm, int *rank) {
    SY_REQUIRE_LOADED();
    return nccl.comm_user_rank(comm, rank);
}

int sy_nccl_group_start(void) {
    SY_REQUIRE_LOADED();
    return nccl.group_start();
}

int sy_nccl_group_end(void) {
    SY_REQUIRE_LOADED();
    return nccl.group_end();
}

int sy_nccl_send(const void *buffer, size_t count, int datatype, int peer, sy_nccl_comm_t comm, void *stream) {
    SY_REQUIRE_LOADED();
    return nccl.send(buffer, count, datatype, peer, comm, stream);
}

int sy_nccl_recv(void *buffer, size_t count, int datatype, int peer, sy_nccl_comm_t comm, void *stream) {
    SY_REQUIRE_LOADED();
    return nccl.recv(buffer, count, datatype, peer, comm, stream);
}

int sy_nccl_all_gather(const void *send, void *receive, size_t send_count, int datatype, sy_nccl_comm_t comm,
                       void *stream) {
    SY_REQUIRE_LOADED();
    return nccl.all_gather(send, receive, send_count, datatype, comm, stream);
}

int sy_nccl_reduce_scatter(const void *send, void *receive, size_t receive_count, int datatype, int op,
                           sy_nccl_comm_t comm, void *stream) {
    SY_REQUIRE_LOADED();
    return nccl.reduce_scatter(send, receive, receive_count, datatype, op, comm, stream);
}

int sy_nccl_all_reduce(const void *send, void *receive, size_t count, int datatype, int op, sy_nccl_comm_t comm,
                       void *stream) {
    SY_REQUIRE_LOADED();
    return nccl.all_reduce(send, receive, count, datatype, op, comm, stream);
}
#endif
