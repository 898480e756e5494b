import Base
import Datasets
import Foundation
import Models
import SIS
import Study
import Torch

/// One fuzz target: a parser's entry point, the one the CLI calls on a file's bytes, fed the
/// fuzzer's input. A thrown error is the parser doing its job; a crash, an assertion, a hang or an
/// out-of-memory is a defect. `seeds` are small valid inputs, made with the project's own writers.
struct FuzzTarget: Sendable {
  let name: String
  let run: @Sendable ([UInt8]) throws -> Void
  let seeds: @Sendable () throws -> [(name: String, bytes: [UInt8])]
}

let path = "fuzz-input"

/// The names the pickle reader may resolve, written out here independently of the reader's own
/// allow-list: the pickle targets stop the process if the reader ever resolves or calls anything
/// else.
let callablesAllowed: Set<String> = [
  "collections.OrderedDict", "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
  "torch._utils._rebuild_parameter", "_codecs.encode",
]
let storagesAllowed: Set<String> = [
  "torch.FloatStorage", "torch.DoubleStorage", "torch.HalfStorage", "torch.BFloat16Storage", "torch.LongStorage",
  "torch.IntStorage", "torch.ByteStorage", "torch.BoolStorage",
]

func watchPickleGlobals() {
  PickleReader.observer = { event in
    switch event {
    case .resolve(let name):
      if !callablesAllowed.contains(name) && !storagesAllowed.contains(name) {
        fatalError("the pickle reader resolved the global '\(name)', which is not on the allow-list")
      }
    case .call(let name):
      if !callablesAllowed.contains(name) { fatalError("the pickle reader called '\(name)', which is not on the allow-list") }
    }
  }
}

/// The run the shard target's inputs belong to: 4 images of 3x4x4 (16 features), 10 classes.
let shardManifest = RunManifest(
  modelPaths: ["model.pt"], modelSHA256: ["0"], architecture: "resnet20",
  data: DataRecord(path: "fuzz", split: .test, holdout: 0, description: "fuzz", numClasses: 10), selection: "all",
  positions: [0, 1, 2, 3], sourceIndices: [10, 11, 12, 13], inputShape: [3, 4, 4], features: "pixel", featureCount: 16,
  settings: SelectionSettings(score: .logprob, method: .exact, chunk: 16, group: 2), overinterpVersion: "fuzz",
  libtorchVersion: "fuzz", device: "cpu")

/// Runs `body` with a new temporary folder (for seeds written by the project's file writers),
/// removed afterwards.
func inTemporaryFolder<T>(_ body: (String) throws -> T) throws -> T {
  let dir = NSTemporaryDirectory() + "/overinterp-fuzz-seeds-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
  try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
  defer { try? FileManager.default.removeItem(atPath: dir) }
  return try body(dir)
}

func text(_ s: String) -> [UInt8] { Array(s.utf8) }

func jsonBytes<T: Encodable>(_ value: T) throws -> [UInt8] {
  let e = JSONEncoder()
  e.outputFormatting = [.sortedKeys]
  return Array(try e.encode(value))
}

let targets: [FuzzTarget] = [
  FuzzTarget(
    name: "pickle",
    run: { bytes in
      // A sequence of pickles, as in the legacy checkpoint layout.
      var reader = ByteReader(bytes, path: path)
      let pickle = PickleReader(path: path)
      while reader.remaining > 0 { _ = try pickle.load(&reader) }
    },
    seeds: {
      [
        ("dict", [0x80, 0x02, 0x7d, 0x71, 0x00, 0x58, 0x01, 0x00, 0x00, 0x00, 0x61, 0x4b, 0x01, 0x73, 0x2e]),
        ("list", [0x80, 0x02, 0x5d, 0x71, 0x00, 0x28, 0x4b, 0x01, 0x4b, 0x02, 0x65, 0x2e]),
        ("ordereddict", [0x80, 0x02] + text("ccollections\nOrderedDict\nq") + [0x00] + text(")Rq") + [0x01, 0x2e]),
      ]
    }),
  FuzzTarget(
    name: "torch-checkpoint",
    run: { bytes in
      let checkpoint = try TorchCheckpoint(bytes: bytes, path: path)
      // What loading with --arch does next: recognize the robustness library's layout.
      _ = try RobustnessLibraryLayout(try checkpoint.stateDict(), source: path)
    },
    seeds: { [] }),  // the committed PyTorch files in Fuzz/corpus/torch-checkpoint
  FuzzTarget(
    name: "safetensors",
    run: { bytes in _ = try Safetensors.parse(bytes, path: path) },
    seeds: {
      try inTemporaryFolder { dir in
        try Safetensors.write(
          [
            ("conv.weight", try Tensor([Float](repeating: 0.5, count: 8), shape: [2, 4])),
            ("bn.num_batches_tracked", try Tensor([Int64(3)], shape: [])),
          ], metadata: ["format": "pt"], to: dir + "/a.safetensors")
        return [("two-tensors", try readFile(dir + "/a.safetensors"))]
      }
    }),
  FuzzTarget(
    name: "npy",
    run: { bytes in
      let a = try NpyArray.parse(bytes, path: path)
      if a.kind == .float32 || a.kind == .float64 { _ = try a.floats() } else { _ = try? a.integers() }
      _ = try a.tensor()
    },
    seeds: {
      [
        ("uint8-2x3", NpyArray([UInt8](0..<6), shape: [2, 3]).encoded()),
        ("float32-4", NpyArray([Float](repeating: 1.5, count: 4), shape: [4]).encoded()),
        ("int64-scalar", NpyArray([Int64(7)], shape: []).encoded()),
      ]
    }),
  FuzzTarget(
    name: "npz",
    run: { bytes in _ = try Npz.parse(bytes, path: path) },
    seeds: {
      try inTemporaryFolder { dir in
        try Npz.write(
          [("images", NpyArray([UInt8](0..<12), shape: [1, 2, 2, 3])), ("labels", NpyArray([Int64(3)], shape: [1]))],
          to: dir + "/a.npz")
        return [("stored", try readFile(dir + "/a.npz"))]
      }
    }),
  FuzzTarget(
    name: "cifar10",
    run: { bytes in _ = try CIFAR10.parseBatch(bytes, path: path) },
    seeds: { [("two-records", [3] + [UInt8](repeating: 128, count: 3072) + [9] + [UInt8](repeating: 7, count: 3072))] }),
  FuzzTarget(
    name: "image",
    run: { bytes in
      // The image folder's decoder (PNG by signature, as the folder loader goes by the name),
      // with no preprocessing and with the ImageNet one.
      let png = bytes.starts(with: [0x89, 0x50, 0x4e, 0x47])
      let name = png ? "a.png" : "a.jpg"
      _ = try ImageFolder.decode(bytes, name: name, path: path, preprocessing: .none)
      _ = try ImageFolder.decode(bytes, name: name, path: path, preprocessing: .resizeCenterCrop(resize: 256, size: 224))
    },
    seeds: {
      let pixels = (0..<(8 * 6 * 3)).map { UInt8(truncatingIfNeeded: $0 * 5) }
      return try inTemporaryFolder { dir in
        try ImageIO.writePNG(pixels, width: 8, height: 6, channels: 3, to: dir + "/a.png")
        return [
          ("rgb-8x6.png", try readFile(dir + "/a.png")),
          ("rgb-8x6.jpg", try ImageIO.encodeJPEG(pixels, width: 8, height: 6, quality: 90)),
        ]
      }
    }),
  FuzzTarget(
    name: "labels-csv",
    run: { bytes in _ = try ImageFolder.parseLabels(bytes, path: path, classCount: 10) },
    seeds: { [("header", text("filename,label\nimg0.jpg,3\nimg1.png,0\n")), ("crlf", text("\"a b.jpg\", 9\r\n"))] }),
  FuzzTarget(
    name: "run-manifest",
    run: { bytes in
      let m = try RunStore.parseManifest(Data(bytes), path: path)
      _ = (m.groupCount, m.label, m.stepsDescription)
      for g in 0..<Swift.min(m.groupCount, 4) { _ = m.positions(ofGroup: g) }
    },
    seeds: {
      var hybrid = shardManifest
      hybrid.settings = SelectionSettings(
        score: .prob, method: .hybrid, k: 8, hybrid: HybridSettings(), chunk: 128, group: 4)
      var fast = shardManifest
      fast.settings = SelectionSettings(
        score: .logprob, method: .fast, k: 8, hybrid: HybridSettings(), screening: ScreeningSettings(), chunk: 128, group: 4)
      return [("exact", try jsonBytes(shardManifest)), ("hybrid", try jsonBytes(hybrid)), ("fast", try jsonBytes(fast))]
    }),
  FuzzTarget(
    name: "run-shard",
    run: { bytes in
      // What `sis`, `subsets` and the audit do with the records: SIS at a threshold, 5% subsets.
      for record in try RunStore.parseShard(bytes, path: path, manifest: shardManifest) {
        _ = findSIS(order: record.order, values: record.values, fullInput: record.confidence, threshold: 0.9)
        _ = record.subset(fraction: 0.05)
      }
    },
    seeds: {
      try inTemporaryFolder { dir in
        let store = RunStore(directory: dir)
        try store.writeManifest(shardManifest)
        let records = (0..<2).map { i in
          ImageRecord(
            position: i, sourceIndex: 10 + i, label: i, predicted: i, confidence: 0.99, order: (0..<16).map { ($0 * 5 + i) % 16 },
            values: (0..<16).map { 0.99 - Float($0) / 20 }, scores: (0..<16).map { -Float($0) }, exactTies: 0, nearTies: 1,
            seconds: 0)
        }
        try store.writeShard(group: 0, records: records)
        return [("two-images", try readFile(store.shardPath(group: 0)))]
      }
    }),
  FuzzTarget(
    name: "subsets-info",
    run: { bytes in _ = try PixelSubsets.parseInfo(bytes, path: path).description },
    seeds: {
      let info = PixelSubsets.Info(
        kind: .random, fraction: 0.05, seed: 3, count: 2, keptPerImage: 52, imageShape: [3, 32, 32],
        classNames: CIFAR10.classNames, sourcePath: "/data/cifar-10-batches-bin", sourceSplit: "holdout", sourceHoldout: 5000,
        sourceLabels: nil, sourceDescription: "CIFAR-10 held-out training images", run: "runs/a",
        runLabel: "exact, score logprob",
        modelPaths: ["default"], modelSHA256: ["0"], maskColor: [125, 123, 114], overinterpVersion: "fuzz")
      return [("random", try jsonBytes(info))]
    }),
  FuzzTarget(
    name: "model-description",
    run: { bytes in _ = try TorchScriptMetadata(json: bytes, source: path) },
    seeds: {
      [
        (
          "full",
          text(
            #"{"class_names":["cat","dog"],"input_shape":[3,32,32],"normalization":"cifar10","preprocessing":"none","#
              + #""architecture":"net"}"#)
        ),
        ("mean-std", text(#"{"input_shape":"3x8x8","normalization":{"mean":[0.5,0.5,0.5],"std":[0.25,0.25,0.25]}}"#)),
      ]
    }),
  FuzzTarget(
    name: "study",
    run: { bytes in _ = try StudySet.parse(bytes, path: path) },
    seeds: {
      [
        (
          "one-image",
          text(
            #"{"classNames":["cat","dog"],"confidence":0.99,"format":"overinterp-study/1","fractions":[0.05,1],"#
              + #""images":[{"file":"i0-f50.png","fraction":0.05,"id":"i0-f50","keptPixels":52,"label":1,"#
              + #""run":"runs/a","sourceIndex":0}],"perClass":1,"seed":1}"#)
        )
      ]
    }),
]
