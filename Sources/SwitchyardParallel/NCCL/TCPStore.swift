#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Switchyard

/// The smallest TCP store that a rendezvous needs: rank 0 serves one fixed byte string to a known number of
/// clients; each client connects (retrying until rank 0 listens) and reads it.
enum TCPStore {
    static func serve(_ bytes: [UInt8], port: Int, clients: Int, deadline: Deadline) throws {
        guard clients > 0 else { return }
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw failure("socket") }
        defer { close(listener) }
        var on: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = INADDR_ANY
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw failure("bind to port \(port)") }
        guard listen(listener, Int32(clients)) == 0 else { throw failure("listen") }
        var served = 0
        while served < clients {
            var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            if poll(&poller, 1, 100) > 0 {
                let connection = accept(listener, nil, nil)
                guard connection >= 0 else { throw failure("accept") }
                let sent = bytes.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(connection)
                guard sent == bytes.count else { throw failure("send to a rendezvous client") }
                served += 1
            } else if deadline.passed {
                throw SwitchyardError(.io, "rendezvous on port \(port): only \(served) of \(clients) ranks connected in time")
            }
        }
    }

    static func fetch(host: String, port: Int, byteCount: Int, deadline: Deadline) throws -> [UInt8] {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let info = found else {
            throw SwitchyardError(.io, "rendezvous: cannot resolve host \(host)")
        }
        defer { freeaddrinfo(info) }
        while true {
            let connection = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard connection >= 0 else { throw failure("socket") }
            if connect(connection, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 {
                defer { close(connection) }
                var bytes = [UInt8](repeating: 0, count: byteCount)
                var got = 0
                while got < byteCount {
                    let n = bytes.withUnsafeMutableBytes { recv(connection, $0.baseAddress! + got, byteCount - got, 0) }
                    guard n > 0 else { throw failure("read the NCCL id from \(host):\(port)") }
                    got += n
                }
                return bytes
            }
            close(connection)
            if deadline.passed {
                throw SwitchyardError(.io, "rendezvous: rank 0 did not listen on \(host):\(port) before the timeout")
            }
            Deadline.pause()
        }
    }

    private static func failure(_ what: String) -> SwitchyardError {
        SwitchyardError(.io, "rendezvous: \(what) failed: \(String(cString: strerror(errno)))")
    }
}
