#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Double-precision libm functions without Foundation; the reference evaluates every transcendental in Double.
@usableFromInline
enum Elementary {
    @inline(__always) @usableFromInline static func exp(_ x: Double) -> Double {
        #if canImport(Glibc)
        Glibc.exp(x)
        #else
        Darwin.exp(x)
        #endif
    }

    @inline(__always) @usableFromInline static func log(_ x: Double) -> Double {
        #if canImport(Glibc)
        Glibc.log(x)
        #else
        Darwin.log(x)
        #endif
    }

    @inline(__always) @usableFromInline static func tanh(_ x: Double) -> Double {
        #if canImport(Glibc)
        Glibc.tanh(x)
        #else
        Darwin.tanh(x)
        #endif
    }

    /// The logistic function 1 / (1 + e^−x).
    @inline(__always) @usableFromInline static func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
}
