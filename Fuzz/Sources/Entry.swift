import Base
import Foundation

// The fuzzing binary. One binary holds every target; OVERINTERP_FUZZ_TARGET names the one to run
// (scripts/fuzz.sh sets it), and OVERINTERP_FUZZ_SEEDS=DIR writes every target's seed inputs
// under DIR/<target>/ and exits (how Fuzz/corpus was made). SwiftPM links an executable's entry
// point as `<module>_main`; this one hands libFuzzer's command line to LLVMFuzzerRunDriver.

nonisolated(unsafe) var selected: FuzzTarget?

@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(
  _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
  _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("overinterp_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  if let dir = environment("OVERINTERP_FUZZ_SEEDS") { exit(writeSeeds(to: dir)) }
  guard let target = environment("OVERINTERP_FUZZ_TARGET").flatMap({ name in targets.first { $0.name == name } }) else {
    let names = targets.map(\.name).joined(separator: ", ")
    FileHandle.standardError.write(Data("set OVERINTERP_FUZZ_TARGET to one of: \(names)\n".utf8))
    exit(2)
  }
  selected = target
  watchPickleGlobals()
  var count = argc
  var arguments = argv
  return runDriver(&count, &arguments) { data, size in
    let bytes = size > 0 && data != nil ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    _ = try? selected?.run(bytes)
    return 0
  }
}

func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

func writeSeeds(to dir: String) -> CInt {
  do {
    for target in targets {
      let folder = dir + "/" + target.name
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
      for seed in try target.seeds() { try writeFileAtomically(seed.bytes, to: folder + "/" + seed.name) }
    }
    return 0
  } catch {
    FileHandle.standardError.write(Data("seeds: \(error)\n".utf8))
    return 1
  }
}
