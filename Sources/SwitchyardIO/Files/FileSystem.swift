import Switchyard
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The few file-system questions the checkpoint loader asks, answered through libc.
enum FileSystem {
    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// The names (not paths) in `directory`, sorted, without "." and "..".
    static func contents(of directory: String) throws -> [String] {
        guard let handle = opendir(directory) else { throw SystemFailure.error(.io, "cannot list \(directory)") }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// The whole file at `path`.
    static func readAll(_ path: String) throws -> [UInt8] {
        let file = try ReadOnlyFile(path: path)
        return try file.read(offset: 0, count: file.size)
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}

/// Writes a file from front to back; ``finish()`` flushes and closes it and reports any failure.
final class FileWriter {
    let path: String
    private var stream: UnsafeMutablePointer<FILE>?

    init(path: String) throws {
        guard let stream = fopen(path, "wb") else { throw SystemFailure.error(.io, "cannot create \(path)") }
        self.path = path
        self.stream = stream
    }

    deinit { if let stream { fclose(stream) } }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard let stream else { preconditionFailure("write after finish") }
        guard bytes.count > 0 else { return }
        guard fwrite(bytes.baseAddress!, 1, bytes.count, stream) == bytes.count else {
            throw SystemFailure.error(.io, "cannot write \(path)")
        }
    }

    func finish() throws {
        guard let stream else { return }
        self.stream = nil
        guard fclose(stream) == 0 else { throw SystemFailure.error(.io, "cannot finish writing \(path)") }
    }
}
