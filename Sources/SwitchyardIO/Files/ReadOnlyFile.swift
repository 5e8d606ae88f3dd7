import Switchyard
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open file read at explicit offsets (`pread`), so one handle serves any number of readers.
/// The descriptor closes when the last reference goes away.
final class ReadOnlyFile: @unchecked Sendable {
    let path: String
    let size: Int
    private let descriptor: Int32

    init(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw SystemFailure.error(.io, "cannot open \(path)") }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let failure = SystemFailure.error(.io, "cannot stat \(path)")
            close(fd)
            throw failure
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw SwitchyardError(.io, "\(path) is not a regular file")
        }
        self.path = path
        self.size = Int(info.st_size)
        self.descriptor = fd
    }

    deinit { close(descriptor) }

    /// Exactly `count` bytes starting at `offset`; the caller has checked the range against ``size``.
    func read(offset: Int, count: Int) throws -> [UInt8] {
        precondition(offset >= 0 && count >= 0 && offset <= size - count, "read \(offset)+\(count) past \(size)")
        return try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var done = 0
            while done < count {
                let got = pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset + done))
                if got < 0, errno == EINTR { continue }
                guard got > 0 else {
                    throw got == 0
                        ? SwitchyardError(.io, "\(path) ended early (was it truncated while open?)")
                        : SystemFailure.error(.io, "cannot read \(path)")
                }
                done += got
            }
            initialized = count
        }
    }
}

/// Turns the current `errno` into a ``SwitchyardError`` message.
enum SystemFailure {
    static func error(_ kind: SwitchyardError.Kind, _ what: String) -> SwitchyardError {
        let reason = strerror(errno).map { String(cString: $0) } ?? "errno \(errno)"
        return SwitchyardError(kind, "\(what): \(reason)")
    }
}
