#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Switchyard

/// How the ranks of a multi-process job agree on one NCCL unique id: rank 0 makes it and publishes it; every other
/// rank waits for it.
///
/// ```swift
/// // Every process: rank from $RANK, size from $WORLD_SIZE.
/// let id = try NCCLRendezvous.tcp(host: "10.0.0.1", port: 29500).uniqueID(rank: rank, size: size)
/// ```
public enum NCCLRendezvous: Sendable, Hashable {
    /// Rank 0 listens on `port` (all interfaces) and serves the id to each of the other `size − 1` ranks, which
    /// connect to `host:port`.
    case tcp(host: String, port: Int)
    /// Rank 0 writes the id to `path` (atomically, by rename); the others poll until it appears. The path must be
    /// new for each job (a stale file from an earlier job would hand out a dead id).
    case file(path: String)

    /// Rank 0 makes the id with ``NCCLLibrary/uniqueID()`` and publishes it; the other ranks receive it.
    public func uniqueID(rank: Int, size: Int, timeoutSeconds: Double = 300) throws -> [UInt8] {
        try exchange(rank: rank, size: size, timeoutSeconds: timeoutSeconds) { try NCCLLibrary.uniqueID() }
    }

    /// The transport itself: rank 0 publishes `make()`'s bytes (``NCCLLibrary/uniqueIDBytes`` of them), the others
    /// return what rank 0 published. Throws after `timeoutSeconds` without a peer or an id.
    public func exchange(
        rank: Int, size: Int, timeoutSeconds: Double = 300, make: () throws -> [UInt8]
    ) throws -> [UInt8] {
        guard size >= 1, (0..<size).contains(rank) else {
            throw SwitchyardError(.invalidConfiguration, "rendezvous rank \(rank) must be in 0..<\(size)")
        }
        let deadline = Deadline(seconds: timeoutSeconds)
        switch self {
        case .tcp(let host, let port):
            guard (1...65535).contains(port) else {
                throw SwitchyardError(.invalidConfiguration, "rendezvous port must be in 1...65535, got \(port)")
            }
            if rank == 0 {
                let id = try make()
                try TCPStore.serve(id, port: port, clients: size - 1, deadline: deadline)
                return id
            }
            return try TCPStore.fetch(host: host, port: port, byteCount: NCCLLibrary.uniqueIDBytes, deadline: deadline)
        case .file(let path):
            if rank == 0 {
                let id = try make()
                try FileStore.publish(id, path: path)
                return id
            }
            return try FileStore.wait(path: path, byteCount: NCCLLibrary.uniqueIDBytes, deadline: deadline)
        }
    }
}

/// A monotonic-clock deadline.
struct Deadline {
    private let end: Double
    init(seconds: Double) { end = Deadline.now() + seconds }
    var passed: Bool { Deadline.now() >= end }

    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }

    /// Sleeps a tenth of a second between polls.
    static func pause() { usleep(100_000) }
}

/// Publishes the id through a file on storage every rank can read.
enum FileStore {
    static func publish(_ bytes: [UInt8], path: String) throws {
        let temporary = "\(path).\(getpid()).partial"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw SwitchyardError(.io, "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw SwitchyardError(.io, "cannot publish the NCCL id at \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func wait(path: String, byteCount: Int, deadline: Deadline) throws -> [UInt8] {
        while true {
            let fd = open(path, O_RDONLY)
            if fd >= 0 {
                var bytes = [UInt8](repeating: 0, count: byteCount)
                let got = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, byteCount) }
                close(fd)
                if got == byteCount { return bytes }
            }
            if deadline.passed {
                throw SwitchyardError(.io, "no NCCL id appeared at \(path) before the rendezvous timed out (rank 0 writes it)")
            }
            Deadline.pause()
        }
    }
}
