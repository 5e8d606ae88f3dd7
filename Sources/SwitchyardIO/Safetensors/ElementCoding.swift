import Switchyard
import SwitchyardFormats

/// Conversions between a safetensors buffer (little-endian elements) and Swift numbers.
enum ElementCoding {
    /// Every element of `raw` as a Float (integers convert exactly up to 2²⁴, then round).
    static func floats(_ raw: [UInt8], dtype: SafetensorsDType) -> [Float] {
        let count = raw.count / dtype.byteSize
        return raw.withUnsafeBytes { bytes in
            func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T {
                T(littleEndian: bytes.loadUnaligned(fromByteOffset: i &* MemoryLayout<T>.size, as: T.self))
            }
            switch dtype {
            case .float32: return (0..<count).map { Float(bitPattern: load(UInt32.self, $0)) }
            case .float64: return (0..<count).map { Float(Double(bitPattern: load(UInt64.self, $0))) }
            case .bfloat16: return (0..<count).map { BFloat16(bitPattern: load(UInt16.self, $0)).floatValue }
            case .float16: return (0..<count).map { halfToFloat(load(UInt16.self, $0)) }
            case .float8E4M3: return (0..<count).map { Float8E4M3FN(bitPattern: bytes[$0]).floatValue }
            case .float8E5M2: return (0..<count).map { Float8E5M2(bitPattern: bytes[$0]).floatValue }
            case .float8E8M0: return (0..<count).map { Float8E8M0(bitPattern: bytes[$0]).floatValue }
            case .bool, .uint8: return (0..<count).map { Float(bytes[$0]) }
            case .int8: return (0..<count).map { Float(Int8(bitPattern: bytes[$0])) }
            case .int16: return (0..<count).map { Float(load(Int16.self, $0)) }
            case .uint16: return (0..<count).map { Float(load(UInt16.self, $0)) }
            case .int32: return (0..<count).map { Float(load(Int32.self, $0)) }
            case .uint32: return (0..<count).map { Float(load(UInt32.self, $0)) }
            case .int64: return (0..<count).map { Float(load(Int64.self, $0)) }
            case .uint64: return (0..<count).map { Float(load(UInt64.self, $0)) }
            }
        }
    }

    /// Every element of an integer or boolean tensor, exactly; nil for a floating-point dtype or a U64
    /// value beyond `Int64.max`.
    static func integers(_ raw: [UInt8], dtype: SafetensorsDType) -> [Int64]? {
        let count = raw.count / dtype.byteSize
        return raw.withUnsafeBytes { bytes -> [Int64]? in
            func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> Int64? {
                Int64(exactly: T(littleEndian: bytes.loadUnaligned(fromByteOffset: i &* MemoryLayout<T>.size, as: T.self)))
            }
            var out: [Int64] = []
            out.reserveCapacity(count)
            for i in 0..<count {
                let value: Int64?
                switch dtype {
                case .bool, .uint8: value = Int64(bytes[i])
                case .int8: value = Int64(Int8(bitPattern: bytes[i]))
                case .int16: value = load(Int16.self, i)
                case .uint16: value = load(UInt16.self, i)
                case .int32: value = load(Int32.self, i)
                case .uint32: value = load(UInt32.self, i)
                case .int64: value = load(Int64.self, i)
                case .uint64: value = load(UInt64.self, i)
                default: return nil
                }
                guard let value else { return nil }
                out.append(value)
            }
            return out
        }
    }

    /// IEEE binary16 bits to Float (exact: every half is a float).
    static func halfToFloat(_ bits: UInt16) -> Float {
        let sign = UInt32(bits >> 15) << 31
        let exponent = UInt32(bits >> 10) & 0x1F
        let mantissa = UInt32(bits) & 0x3FF
        switch exponent {
        case 0:
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        case 0x1F:
            return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
        default:
            return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
        }
    }

    /// Appends `values` encoded as `dtype` (F32, BF16 or F64) to `sink`, a chunk at a time.
    static func encode(
        _ values: ArraySlice<Float>, as dtype: SafetensorsDType, into sink: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        switch dtype {
        case .float32: try values.map { $0.bitPattern.littleEndian }.withUnsafeBytes(sink)
        case .bfloat16: try values.map { BFloat16($0).bitPattern.littleEndian }.withUnsafeBytes(sink)
        case .float64: try values.map { Double($0).bitPattern.littleEndian }.withUnsafeBytes(sink)
        default: preconditionFailure("encode: \(dtype.rawValue) is not a Float storage type")
        }
    }

    /// The dtypes ``encode(_:as:into:)`` writes.
    static let floatStorageTypes: [SafetensorsDType] = [.float32, .bfloat16, .float64]
}

