import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

/// Exact BackSelect of ResNet20 on CIFAR-10 images in several evaluator configurations against the paper's Python procedure, in one run.
/// `verifyTops`: bf16-verify variants to add (one per top K; none without), `bf16`: a plain
/// bfloat16 variant too.
public func backSelectBenchmark(
  shared: String, images: String, window: Int, chunks: String, baseline: Baseline, verifyTops: [Int] = [], bf16: Bool = false
) throws -> [String] {
  let threadCount = baseline.threadCount
  let python = baseline.python
  var out: [String] = []
  try Runtime.configureAllocator()
  try Runtime.setThreads(threadCount)
  guard let list = parseIndexList(images), (1...32).contains(window) else { throw BenchmarkError("bad {images} or {window}") }
  let net = try Architecture.resnet20.build(normalization: .imagenet)
  try net.load(
    stateDict: try TorchCheckpoint(path: shared + "/models/cifar10_resnet_akamaster/resnet20-12fca82f.th").stateDict(),
    source: "resnet20")
  let data = try CIFAR10.readBatch(shared + "/cifar-10-batches-bin/test_batch.bin").subset(list)
  let x = try net.info.normalization.apply(try data.batch(0..<data.count))
  let flat = try x.floats()
  let inputs = (0..<data.count).map { Array(flat[($0 * 3072)..<(($0 + 1) * 3072)]) }
  let classes = try withInferenceMode { try net.logits(x).argmax(dim: 1).ints() }
  let lo = (32 - window) / 2
  var initial = [Bool](repeating: true, count: 1024)
  for y in lo..<(lo + window) { for xx in lo..<(lo + window) { initial[y * 32 + xx] = false } }

  // (name, model, chunk, probe): probe .max evaluates every candidate of every step, as the
  // paper's procedure does; the default probe ends saturated steps early (same decisions).
  var variants: [(String, any Classifier, Int, Int)] = [("overinterp-eager-chunk128-full-steps", net, 128, .max)]
  let fused = try optimizedForInference(net, channelsLast: true)
  for c in chunks.split(separator: ",").compactMap({ Int($0) }) {
    variants.append(("overinterp-fused-cl-chunk\(c)-full-steps", fused, c, .max))
  }
  variants.append(("overinterp-fused-cl-chunk128", fused, 128, 32))
  // bfloat16 (fp32 in and out): the twin scores every candidate; bf16-verify scores the best K
  // again with the fused float32 model.
  let twin = verifyTops.isEmpty && !bf16 ? nil : try bfloat16Twin(net)
  var precisions: [(String, Precision, Int?)] = bf16 ? [("overinterp-bf16-chunk128", .bf16, nil)] : []
  precisions += verifyTops.map { ("overinterp-bf16-verify-top\($0)-chunk128", .bf16Verify, $0) }
  var seconds: [String: Double] = [:]
  var orders: [String: [[Int]]] = [:]
  var values: [String: [[Float]]] = [:]
  var picks: [String: (agreeing: Int, steps: Int)] = [:]
  func record(_ name: String, _ run: (Int) throws -> BackSelectResult) throws {
    var o: [[Int]] = []
    var v: [[Float]] = []
    var total = 0.0
    for k in 0..<list.count {
      let start = Progress.now()
      let r = try run(k)
      total += Progress.now() - start
      o.append(r.order)
      v.append(r.values)
    }
    seconds[name] = total / Double(list.count)
    orders[name] = o
    values[name] = v
    printError("\(name): \(fmt(total / Double(list.count))) s per image")
  }
  for (name, classifier, chunk, probe) in variants {
    try record(name) { k in
      let scorer = try ClassifierScorer(
        classifier: classifier, images: [inputs[k]], classes: [classes[k]], layout: .pixels([3, 32, 32]), score: .prob,
        chunk: chunk)
      return try backSelect(problems: 1, featureCount: 1024, initiallyMasked: [initial], scorer: scorer, probe: probe)[0]
    }
  }
  for (name, precision, top) in precisions {
    try record(name) { k in
      let scorer = try ExactSelectionScorer(
        classifier: fused, fast: twin, precision: precision, verifyTop: top, images: [inputs[k]], classes: [classes[k]],
        layout: .pixels([3, 32, 32]), maskValue: nil, score: .prob, chunk: 128, device: .cpu)
      let r = try backSelect(problems: 1, featureCount: 1024, initiallyMasked: [initial], scorer: scorer)[0]
      let c = scorer.cost
      picks[name, default: (0, 0)].agreeing += c.agreeingSteps
      picks[name, default: (0, 0)].steps += c.verifiedSteps
      return r
    }
  }
  if !python.isEmpty {
    var o: [[Int]] = []
    var v: [[Float]] = []
    var total = 0.0
    for obj in try runPythonBaseline(
      python, ["bench/backselect.py", shared, String(threadCount), String(window)] + list.map(String.init))
    {
      guard let s = obj["seconds"] as? Double, let order = obj["order"] as? [Int], let vals = obj["values"] as? [Double] else {
        continue
      }
      total += s
      o.append(order)
      v.append(vals.map(Float.init))
    }
    if o.count == list.count {
      seconds["python-reference-batch128"] = total / Double(list.count)
      orders["python-reference-batch128"] = o
      values["python-reference-batch128"] = v
    } else {
      printError("python baseline did not finish every image")
    }
  }
  let p = window * window
  out.append(
    "exact BackSelect, ResNet20 (akamaster), \(list.count) CIFAR-10 test image(s) \(list), \(window)x\(window) free pixels (\(p * (p + 1) / 2) forward passes each), \(threadCount) thread(s), score prob"
  )
  let base = seconds["python-reference-batch128"]
  let reference = orders["python-reference-batch128"] ?? orders["overinterp-eager-chunk128-full-steps"] ?? []
  let refValues = values["python-reference-batch128"] ?? values["overinterp-eager-chunk128-full-steps"] ?? []
  for name in seconds.keys.sorted() {
    let s = seconds[name] ?? 0
    let agree = zip(orders[name] ?? [], zip(reference, refValues)).map { (mine, ref) -> String in
      let (ro, rv) = ref
      var i = 0
      while i < mine.count && i < ro.count && mine[i] == ro[i] { i += 1 }
      return i == ro.count ? "same order" : "same for \(i) steps (ref value there \(rv[i]))"
    }
    let fp32 = seconds["overinterp-fused-cl-chunk128"].map { "vs fused fp32 " + fmt($0 / s) + "x  " } ?? ""
    let picked = picks[name].map { "bf16 best picked in \($0.agreeing) of \($0.steps) steps; " } ?? ""
    out.append(
      "\(pad(name, 40)) \(pad(fmt(s), 9, left: true)) s/image  \(base.map { "speedup " + fmt($0 / s) + "x  " } ?? "")\(fp32)\(picked)\(agree.joined(separator: "; "))"
    )
  }
  return out
}
