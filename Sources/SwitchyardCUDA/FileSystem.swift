#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The few file-system operations the runtime needs (library discovery, the kernel cache), on the C library so
/// that the module stays free of Foundation.
enum FileSystem {
    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// The names in a directory (without `.` and `..`), sorted; empty when it cannot be read.
    static func contents(of directory: String) -> [String] {
        guard let stream = opendir(directory) else { return [] }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// The value of an environment variable, nil when unset or empty.
    static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let string = String(cString: value)
        return string.isEmpty ? nil : string
    }

    static func currentDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return nil }
        return String(nulTerminated: buffer)
    }

    /// The directory holding the running executable (via /proc/self/exe), nil where that is unknown.
    static func executableDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        return parent(of: String(nulTerminated: buffer))
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func join(_ parts: String...) -> String {
        parts.dropFirst().reduce(parts[0]) { path, part in
            path.hasSuffix("/") ? path + part : path + "/" + part
        }
    }

    /// Creates a directory and its missing parents; true when it exists afterwards.
    static func createDirectory(_ path: String) -> Bool {
        if isDirectory(path) { return true }
        let parentPath = parent(of: path)
        if parentPath != path && !isDirectory(parentPath) { _ = createDirectory(parentPath) }
        return mkdir(path, 0o755) == 0 || isDirectory(path)
    }

    /// The whole file, or nil when it cannot be read.
    static func read(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            bytes.append(contentsOf: chunk[..<count])
            if count < chunk.count { return ferror(file) == 0 ? bytes : nil }
        }
    }

    /// Writes the file atomically: to a temporary name beside it, then renamed over it, so that a reader in
    /// another process sees either the old file or the whole new one.
    static func writeAtomically(_ bytes: [UInt8], to path: String) -> Bool {
        let temporary = "\(path).\(getpid()).\(UInt32.random(in: .min ... .max)).tmp"
        guard let file = fopen(temporary, "wb") else { return false }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        let closed = fclose(file) == 0
        guard written == bytes.count && closed && rename(temporary, path) == 0 else {
            unlink(temporary)
            return false
        }
        return true
    }
}

extension String {
    /// The text of a NUL-terminated C buffer, up to its first NUL, decoded as UTF-8.
    init(nulTerminated buffer: [CChar]) {
        self = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
