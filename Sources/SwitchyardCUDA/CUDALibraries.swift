import CSwitchyardCUDA

/// A CUDA library that Switchyard loads at run time with dlopen.
public enum CUDALibrary: String, CaseIterable, Sendable {
    /// The driver API, installed with the NVIDIA driver.
    case driver
    /// The run-time compiler that turns the kernel sources into cubins.
    case nvrtc
    /// cuBLASLt, the baseline for grouped GEMMs.
    case cublasLt
    /// NCCL, for expert parallelism across GPUs.
    case nccl
    /// NVML, installed with the driver: the clock, power and temperature `switchyard bench` reports (optional).
    case nvml

    /// The shared object's versioned name, which the dynamic loader resolves when no file is found elsewhere.
    public var soname: String {
        switch self {
        case .driver: "libcuda.so.1"
        case .nvrtc: "libnvrtc.so.13"
        case .cublasLt: "libcublasLt.so.13"
        case .nccl: "libnccl.so.2"
        case .nvml: "libnvidia-ml.so.1"
        }
    }
}

/// Where a CUDA library was found: the path to hand to dlopen and the search step that found it.
public struct CUDALibraryLocation: Sendable, Equatable, CustomStringConvertible {
    public var library: CUDALibrary
    /// A file path, or the bare soname when the search left it to the dynamic loader.
    public var path: String
    /// The search step, e.g. `SWITCHYARD_CUDA_HOME`, `/usr/local/cuda`, `.deps/cuda`, `python site-packages`.
    public var source: String

    /// True when no file was found and dlopen will search the loader path (`LD_LIBRARY_PATH`, ld.so.cache).
    public var isLoaderSearch: Bool { path == library.soname }

    public var description: String { "\(library.soname): \(path) (\(source))" }
}

/// Finds the CUDA libraries and headers on this machine, without loading anything.
///
/// Search order, first match wins:
/// 1. `SWITCHYARD_CUDA_HOME`,
/// 2. `CUDA_HOME`, then `CUDA_PATH`,
/// 3. `/usr/local/cuda`,
/// 4. the project-local wheels folder `.deps/cuda` (see `scripts/install-cuda-wheels.sh`), in the current
///    directory, then beside the executable and in up to four folders above it,
/// 5. the `site-packages` folders of Python environments (`VIRTUAL_ENV`, `CONDA_PREFIX`, `PYTHONPATH`,
///    `~/.local`, `/usr/local`, `/usr`), where the `nvidia-*` wheels put `nvidia/cu13/lib`,
/// 6. the plain soname, left to the dynamic loader.
///
/// Each root is searched in its toolkit layout (`lib64`, `lib`, `targets/x86_64-linux/lib`) and its wheel
/// layout (`nvidia/cu13/lib`, `nvidia/nccl/lib`).
///
/// ```swift
/// let nvrtc = CUDALibraries.locate(.nvrtc)       // e.g. .deps/cuda/nvidia/cu13/lib/libnvrtc.so.13 (.deps/cuda)
/// let includes = CUDALibraries.includeDirectories()  // -I folders for cuda_bf16.h and CCCL
/// print(CUDALibraries.report())
/// ```
public enum CUDALibraries {
    /// What the search reads from the process: environment variables and directories. Tests build their own.
    public struct SearchContext: Sendable {
        public var environment: [String: String]
        public var currentDirectory: String?
        public var executableDirectory: String?
        /// The machine-wide CUDA folders of step 3.
        public var systemRoots: [String]
        /// The prefixes whose `lib/python3*/site-packages` step 5 searches after the environment's own.
        public var pythonPrefixes: [String]

        public init(environment: [String: String], currentDirectory: String? = nil,
                    executableDirectory: String? = nil, systemRoots: [String] = ["/usr/local/cuda"],
                    pythonPrefixes: [String] = ["/usr/local", "/usr"]) {
            self.environment = environment
            self.currentDirectory = currentDirectory
            self.executableDirectory = executableDirectory
            self.systemRoots = systemRoots
            self.pythonPrefixes = pythonPrefixes
        }

        /// The environment variables the search reads.
        public static let variables = [
            "SWITCHYARD_CUDA_HOME", "CUDA_HOME", "CUDA_PATH", "VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH", "HOME",
        ]

        /// This process's environment, current directory and executable directory.
        public static var current: SearchContext {
            var environment: [String: String] = [:]
            for name in variables { environment[name] = FileSystem.environment(name) }
            return SearchContext(environment: environment, currentDirectory: FileSystem.currentDirectory(),
                                 executableDirectory: FileSystem.executableDirectory())
        }
    }

    /// A folder that may hold CUDA, in the toolkit or the wheel layout, and the search step that named it.
    public struct Root: Sendable, Equatable {
        public var path: String
        public var source: String
    }

    static let librarySubdirectories = [
        "lib64", "lib", "targets/x86_64-linux/lib", "nvidia/cu13/lib", "nvidia/nccl/lib",
    ]
    static let includeSubdirectories = ["include", "targets/x86_64-linux/include", "nvidia/cu13/include"]
    static let wheelsFolder = ".deps/cuda"

    /// The roots in search order (steps 1 to 5 above), whether or not they exist.
    public static func roots(in context: SearchContext = .current) -> [Root] {
        var roots: [Root] = []
        for name in ["SWITCHYARD_CUDA_HOME", "CUDA_HOME", "CUDA_PATH"] {
            if let path = context.environment[name], !path.isEmpty { roots.append(Root(path: path, source: name)) }
        }
        roots += context.systemRoots.map { Root(path: $0, source: $0) }
        if let directory = context.currentDirectory {
            roots.append(Root(path: FileSystem.join(directory, wheelsFolder), source: wheelsFolder))
        }
        var directory = context.executableDirectory
        for _ in 0..<5 {
            guard let current = directory else { break }
            roots.append(Root(path: FileSystem.join(current, wheelsFolder), source: "\(wheelsFolder) (executable)"))
            let parent = FileSystem.parent(of: current)
            directory = parent == current ? nil : parent
        }
        roots += sitePackages(in: context).map { Root(path: $0, source: "python site-packages") }
        return roots
    }

    /// Where `library` would be loaded from: the first file found under a root, else the plain soname.
    public static func locate(_ library: CUDALibrary, in context: SearchContext = .current) -> CUDALibraryLocation {
        for root in roots(in: context) {
            for subdirectory in librarySubdirectories {
                let path = FileSystem.join(root.path, subdirectory, library.soname)
                if FileSystem.exists(path) { return CUDALibraryLocation(library: library, path: path, source: root.source) }
            }
        }
        return CUDALibraryLocation(library: library, path: library.soname, source: "dynamic loader search path")
    }

    /// NVRTC's builtins library (`libnvrtc-builtins.so.13.x`) in the folder of a found NVRTC, nil when NVRTC is
    /// left to the loader or the folder has none.
    public static func nvrtcBuiltins(besides nvrtc: CUDALibraryLocation) -> String? {
        guard !nvrtc.isLoaderSearch else { return nil }
        let folder = FileSystem.parent(of: nvrtc.path)
        let major = nvrtc.library.soname.split(separator: ".").last.map(String.init) ?? ""
        return FileSystem.contents(of: folder)
            .first { $0.hasPrefix("libnvrtc-builtins.so.\(major).") }
            .map { FileSystem.join(folder, $0) }
    }

    /// The `-I` folders NVRTC needs: the first root's include folder that holds `cuda_bf16.h`, and its CCCL
    /// folder (`include/cccl`) where there is one. Empty when no CUDA headers were found.
    public static func includeDirectories(in context: SearchContext = .current) -> [String] {
        for root in roots(in: context) {
            for subdirectory in includeSubdirectories {
                let include = FileSystem.join(root.path, subdirectory)
                guard FileSystem.exists(FileSystem.join(include, "cuda_bf16.h")) else { continue }
                let cccl = FileSystem.join(include, "cccl")
                return FileSystem.isDirectory(cccl) ? [include, cccl] : [include]
            }
        }
        return []
    }

    /// A readable report of where each library and the headers were found, one line each; `loadable` tells,
    /// for each library, whether dlopen could open it (and the loader's reason when not).
    public static func report(in context: SearchContext = .current,
                              loadable: (CUDALibraryLocation) -> String? = probe) -> String {
        var lines: [String] = []
        for library in CUDALibrary.allCases {
            let location = locate(library, in: context)
            let failure = loadable(location)
            let status = failure.map { "NOT LOADABLE: \($0)" } ?? "ok"
            lines.append("\(library.soname.padding(18)) \(location.path) [\(location.source)] \(status)")
        }
        let includes = includeDirectories(in: context)
        lines.append("\("CUDA headers".padding(18)) "
            + (includes.isEmpty ? "not found (NVRTC kernels that include cuda_bf16.h will not compile)"
                                : includes.joined(separator: " ")))
        return lines.joined(separator: "\n")
    }

    /// Opens and closes the library; nil when that works, else the loader's message.
    public static func probe(_ location: CUDALibraryLocation) -> String? {
        var message = [CChar](repeating: 0, count: 1024)
        return sy_library_probe(location.path, &message, message.count) == 0 ? nil : String(nulTerminated: message)
    }

    /// Python `site-packages` and `dist-packages` folders, in the order listed in the type's comment.
    static func sitePackages(in context: SearchContext) -> [String] {
        var folders: [String] = []
        if let pythonPath = context.environment["PYTHONPATH"] {
            folders += pythonPath.split(separator: ":").map(String.init)
        }
        var prefixes: [String] = []
        for name in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
            if let prefix = context.environment[name] { prefixes.append(prefix) }
        }
        if let home = context.environment["HOME"] { prefixes.append(FileSystem.join(home, ".local")) }
        prefixes += context.pythonPrefixes
        for prefix in prefixes {
            let lib = FileSystem.join(prefix, "lib")
            for python in FileSystem.contents(of: lib) where python.hasPrefix("python3") {
                for packages in ["site-packages", "dist-packages"] {
                    let folder = FileSystem.join(lib, python, packages)
                    if FileSystem.isDirectory(folder) { folders.append(folder) }
                }
            }
        }
        return folders
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
