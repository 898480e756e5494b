// swift-tools-version: 6.1
// overinterp: auditing image classifiers for overinterpretation (Carter et al., 2021).
import Foundation
import PackageDescription

// libtorch location. Debian's libtorch-dev (1.13) installs into the system directories and needs
// no flags. LIBTORCH=/path/to/libtorch (a folder with include/ and lib/, e.g. the `torch` folder
// of a PyPI wheel) builds against another one, such as a CUDA build. LIBTORCH_CXX11_ABI=0 is for
// the (older) wheels built with the pre-C++11 string ABI.
let env = ProcessInfo.processInfo.environment
var torchCxx: [CXXSetting] = [.define("_GLIBCXX_USE_CXX11_ABI", to: env["LIBTORCH_CXX11_ABI"] ?? "1")]
var torchLink: [LinkerSetting] = [
  .linkedLibrary("torch"), .linkedLibrary("torch_cpu"), .linkedLibrary("c10"),
]
if let root = env["LIBTORCH"], !root.isEmpty {
  torchCxx += [
    .unsafeFlags(["-I\(root)/include", "-I\(root)/include/torch/csrc/api/include"])
  ]
  torchLink += [.unsafeFlags(["-L\(root)/lib", "-Xlinker", "-rpath", "-Xlinker", "\(root)/lib"])]
  // A CUDA build: nothing in the shim refers to libtorch_cuda, so the linker would drop it and
  // CUDA would report itself unavailable; keep it.
  if FileManager.default.fileExists(atPath: root + "/lib/libtorch_cuda.so") {
    torchLink += [
      .unsafeFlags(["-Xlinker", "--no-as-needed", "-Xlinker", "-ltorch_cuda", "-Xlinker", "--as-needed"])
    ]
  }
} else {
  torchCxx += [.unsafeFlags(["-I/usr/include/torch/csrc/api/include"])]
}

/// The major version of the libtorch at `root` (its headers say it), if they can be read.
func torchMajorVersion(_ root: String) -> Int? {
  for header in ["include/torch/headeronly/version.h", "include/torch/csrc/api/include/torch/version.h"] {
    guard let text = try? String(contentsOfFile: root + "/" + header, encoding: .utf8) else { continue }
    for line in text.split(separator: "\n") where line.hasPrefix("#define TORCH_VERSION_MAJOR ") {
      return Int(line.split(separator: " ").last ?? "")
    }
  }
  return nil
}
// torch 2.x's headers want C++20 (2.15's require it); 1.13's do not compile under it.
let torchMajor = env["LIBTORCH"].flatMap { $0.isEmpty ? nil : torchMajorVersion($0) } ?? 1

let package = Package(
  name: "overinterp",
  platforms: [.macOS(.v13)],
  products: [
    .executable(name: "overinterp", targets: ["overinterp"]),
    .library(name: "Torch", targets: ["Torch"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    // The human-study web app (`study serve`). The ConfigurationSupport trait (swift-configuration)
    // is not needed and is left off to keep builds shorter.
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: ["FullFoundation"]),
    .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    // NIOCore for the client's address in the study app's rate limit (already a dependency of
    // Hummingbird; declared because the study app names its types).
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
  ],
  targets: [
    .target(
      name: "CTorch",
      cxxSettings: torchCxx + [.unsafeFlags(["-O2", "-Wno-deprecated-declarations"])],
      linkerSettings: torchLink),
    .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
    .target(
      name: "CImage",
      linkerSettings: [.linkedLibrary("png"), .linkedLibrary("jpeg")]),
    .target(name: "Base", dependencies: ["CZlib"]),
    .target(name: "Torch", dependencies: ["CTorch", "Base"]),
    .target(name: "Datasets", dependencies: ["Base", "Torch", "CImage"]),
    .target(name: "Models", dependencies: ["Torch", "Datasets"]),
    .target(name: "SIS", dependencies: ["Base", "Torch", "Datasets", "Models"]),
    .target(name: "Corruptions", dependencies: ["Base", "Datasets"]),
    .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
    .target(name: "Study", dependencies: ["CSQLite", "Base", "Datasets", "SIS"]),
    .target(
      name: "StudyServer",
      dependencies: [
        "Study", "Base", "Datasets", .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
        .product(name: "Logging", package: "swift-log"), .product(name: "NIOCore", package: "swift-nio"),
      ]),
    .target(name: "Analysis", dependencies: ["Base", "Torch", "Datasets", "Models", "SIS"]),
    .target(name: "Audit", dependencies: ["Base", "Torch", "Datasets", "Models", "SIS", "Analysis"]),
    .target(name: "Benchmarks", dependencies: ["Base", "Torch", "Datasets", "Models", "SIS"]),
    .target(name: "Training", dependencies: ["Base", "Torch", "Datasets", "Models", "Analysis"]),
    .executableTarget(
      name: "overinterp",
      dependencies: [
        "Base", "Torch", "Datasets", "Models", "SIS", "Analysis", "Audit", "Benchmarks", "Training", "Corruptions", "Study",
        "StudyServer",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      resources: [.copy("Resources")]),
    .testTarget(name: "BaseTests", dependencies: ["Base"]),
    .testTarget(name: "TorchTests", dependencies: ["Base", "Torch"], exclude: ["Fixtures"]),
    .testTarget(name: "DatasetsTests", dependencies: ["Base", "Datasets", "Torch"], exclude: ["Fixtures"]),
    .testTarget(name: "ModelsTests", dependencies: ["Models", "Datasets", "Analysis", "Torch"], exclude: ["Fixtures"]),
    .testTarget(
      name: "SISTests", dependencies: ["Base", "SIS", "Analysis", "Models", "Datasets", "Torch"], exclude: ["Fixtures"]),
    .testTarget(name: "CorruptionsTests", dependencies: ["Base", "Corruptions", "Datasets"], exclude: ["Fixtures"]),
    .testTarget(name: "StudyTests", dependencies: ["Study", "Datasets"]),
    .target(name: "TestSupport", path: "Tests/TestSupport"),
    .testTarget(name: "StudyServerTests", dependencies: ["overinterp", "StudyServer", "Study", "Datasets", "TestSupport"]),
    .testTarget(
      name: "AuditTests", dependencies: ["Audit", "Analysis", "Base", "Datasets", "Models", "SIS", "Torch", "Training"]),
    .testTarget(name: "TrainingTests", dependencies: ["Base", "Training", "Models", "Datasets", "Torch", "Analysis"]),
    .testTarget(
      name: "CLITests",
      dependencies: ["overinterp", "Analysis", "Base", "Models", "Datasets", "Torch", "SIS", "Study", "TestSupport"],
      exclude: ["Fixtures"]),
  ],
  swiftLanguageModes: [.v6],
  cxxLanguageStandard: torchMajor >= 2 ? .cxx20 : .cxx17
)

// The libFuzzer targets (Fuzz/, docs/fuzzing.md): only with OVERINTERP_FUZZ=1, which
// scripts/fuzz.sh sets when it builds them with -sanitize=fuzzer,address; the normal build and
// the tests never compile them.
if env["OVERINTERP_FUZZ"] == "1" {
  package.targets.append(
    .executableTarget(
      name: "overinterp-fuzz", dependencies: ["Base", "Torch", "Datasets", "Models", "SIS", "Study"], path: "Fuzz/Sources"))
}
