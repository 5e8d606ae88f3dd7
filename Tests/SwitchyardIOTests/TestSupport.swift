#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Switchyard

/// A fresh directory under /tmp, removed with its files when the value goes away.
final class TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/switchyard-io-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit {
        if let handle = opendir(path) {
            while let entry = readdir(handle) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != "." && name != ".." { unlink(file(name)) }
            }
            closedir(handle)
        }
        rmdir(path)
    }

    /// Writes `text` to `name` in this directory.
    func write(_ text: String, to name: String) {
        let stream = fopen(file(name), "wb")!
        let bytes = Array(text.utf8)
        fwrite(bytes, 1, bytes.count, stream)
        fclose(stream)
    }

    func write(_ bytes: [UInt8], to name: String) {
        let stream = fopen(file(name), "wb")!
        fwrite(bytes, 1, bytes.count, stream)
        fclose(stream)
    }
}

/// Bytes from a hex string.
func bytes(hex: String) -> [UInt8] {
    let digits = Array(hex.utf8)
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<($0 + 2)], as: UTF8.self), radix: 16)! }
}

/// A random Float tensor.
func randomTensor(_ shape: [Int], _ generator: inout SeededGenerator) -> Tensor<Float> {
    Tensor<Float>.randomNormal(shape: shape, generator: &generator)
}
