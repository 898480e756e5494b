import Base
import Datasets
import Foundation
import SIS
import Study
import TestSupport
import Testing

@Suite(.serialized) struct StudyCLITests {
  /// A run folder over 10 random 8x8 images (one per class) whose records say each was
  /// classified correctly and confidently, with a known removal order.
  func fakeRun(_ dir: String) throws -> String {
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    var state: UInt64 = 9
    let px = (0..<(10 * 8 * 8 * 3)).map { _ -> UInt8 in
      state = state &* 6364136223846793005 &+ 1442695040888963407
      return UInt8(truncatingIfNeeded: state >> 56)
    }
    try NpyArray(px, shape: [10, 8, 8, 3]).write(to: dir + "/images.npy")
    try NpyArray((0..<10).map { Int64($0) }, shape: [10]).write(to: dir + "/labels.npy")
    let run = dir + "/run"
    let store = RunStore(directory: run)
    try store.writeManifest(
      RunManifest(
        modelPaths: ["none"], modelSHA256: ["0"], architecture: "resnet20",
        data: DataRecord(path: dir + "/images.npy", labels: dir + "/labels.npy", split: .test, holdout: 0, description: "fake"),
        selection: "all", positions: Array(0..<10), sourceIndices: Array(0..<10), inputShape: [3, 8, 8], features: "pixel",
        featureCount: 64, settings: SelectionSettings(score: .logprob, chunk: 8, group: 10), overinterpVersion: "test",
        libtorchVersion: "test", device: "cpu"))
    try store.writeShard(
      group: 0,
      records: (0..<10).map {
        ImageRecord(
          position: $0, sourceIndex: $0, label: $0, predicted: $0, confidence: 1, order: Array(0..<64),
          values: [Float](repeating: 1, count: 64),
          scores: [Float](repeating: 0, count: 64), exactTies: 0, nearTies: 0, seconds: 0)
      })
    return run
  }

  /// The admin token from the environment is held to the flag's 8-character minimum.
  @Test func shortEnvironmentTokenIsRefused() throws {
    let r = try CLI.run(
      ["study", "serve", "/nonexistent-study", "--port", "0"], environment: ["OVERINTERP_ADMIN_TOKEN": "short"])
    #expect(r.status != 0 && r.stderr.contains("OVERINTERP_ADMIN_TOKEN must have at least 8 characters"), "\(r.stderr)")
  }

  @Test func makeAStudyAnswerItAndReport() throws {
    let dir = tempPath("study")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let run = try fakeRun(dir)
    let make = try CLI.run([
      "study", "make", "--run", run, "--per-class", "1", "--fractions", "0.05,0.5", "--out", dir + "/study",
    ])
    #expect(make.status == 0, "\(make.stderr)")
    let study = try StudySet.load(dir + "/study")
    #expect(study.images.count == 20)
    // 5% of 64 pixels = the last 4 of the order (60..63): everything else is the mask colour.
    let small = try #require(study.images.first { $0.fraction == 0.05 })
    #expect(small.keptPixels == 4)
    let png = try ImageIO.readPNG(dir + "/study/" + small.file)
    let keptPixels = (0..<64).filter { p in (0..<3).contains { png.pixels[p * 3 + $0] != [125, 123, 114][$0] } }
    #expect(Set(keptPixels).isSubset(of: Set(60..<64)))

    let store = try AnswerStore(path: dir + "/answers.sqlite")
    try store.addParticipant(id: "p", seed: 4)
    for image in study.order(participantSeed: 4) {
      _ = try store.addAnswer(
        participant: "p", image: image, answer: image.fraction > 0.1 ? image.label : (image.label + 1) % 10, milliseconds: 900)
    }
    let report = try CLI.run([
      "study", "report", "--study", dir + "/study", "--db", dir + "/answers.sqlite", "--out", dir + "/report",
    ])
    #expect(report.status == 0, "\(report.stderr)")
    #expect(report.stdout.contains("    5%        0.0 ±    -  (n = 1)"), "\(report.stdout)")
    #expect(report.stdout.contains("   50%      100.0 ±    -  (n = 1)"))
    #expect(report.stdout.contains("1 participant(s), 1 of them answered all images"))
    for f in ["report.txt", "answers.csv", "accuracy.svg", "contact-sheet-5pct.png", "contact-sheet-50pct.png"] {
      #expect(FileManager.default.fileExists(atPath: dir + "/report/" + f), "missing \(f)")
    }
    let bad = try CLI.run(["study", "make", "--run", run, "--fractions", "0,2", "--out", dir + "/x"])
    #expect(bad.stderr.contains("--fractions"))

    // Practice and catch images come from the run's other images; this run has none left.
    let noExtra = try CLI.run(["study", "make", "--run", run, "--per-class", "1", "--catch", "1", "--out", dir + "/catch"])
    #expect(noExtra.status != 0 && noExtra.stderr.contains("only 0 further image(s)"), "\(noExtra.stderr)")

    // Defect 7 of #22: making a study again into the same folder overwrote it silently.
    let again = try CLI.run(["study", "make", "--run", run, "--per-class", "1", "--out", dir + "/study"])
    #expect(again.status != 0 && again.stderr.contains("already exists"), "\(again.stderr)")
    #expect(try StudySet.load(dir + "/study") == study)
    // A database that served one study is refused for another (its study.json hash is stored).
    let other = try CLI.run(["study", "make", "--run", run, "--per-class", "1", "--fractions", "0.3", "--out", dir + "/other"])
    #expect(other.status == 0, "\(other.stderr)")
    try store.bind(studySHA256: try SHA256.hex(file: dir + "/study/study.json"), studyPath: dir + "/study")
    let mixed = try CLI.run(["study", "report", "--study", dir + "/other", "--db", dir + "/answers.sqlite", "--out", dir + "/r2"])
    #expect(mixed.status != 0 && mixed.stderr.contains("holds answers to another study"), "\(mixed.stderr)")
    // A database without a stored hash (made before it was stored) is checked image by image.
    let old = try AnswerStore(path: dir + "/old.sqlite")
    try old.addParticipant(id: "p", seed: 4)
    _ = try old.addAnswer(participant: "p", image: small, answer: 0, milliseconds: 5)
    let foreign = try CLI.run(["study", "report", "--study", dir + "/other", "--db", dir + "/old.sqlite", "--out", dir + "/r3"])
    #expect(foreign.status != 0 && foreign.stderr.contains("answer(s) to images that"), "\(foreign.stderr)")
  }

  @Test func makeAStudyFromPlainArrays() throws {
    let dir = tempPath("arrays")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    // 3 images of 4x4 pixels, 2 fractions: mask k keeps the first 2 + 6k pixels.
    try NpyArray((0..<(3 * 4 * 4 * 3)).map { UInt8($0 % 251) }, shape: [3, 4, 4, 3]).write(to: dir + "/images.npy")
    try NpyArray([Int64(2), 5, 9], shape: [3]).write(to: dir + "/labels.npy")
    let masks: [UInt8] = (0..<3).flatMap { _ in (0..<2).flatMap { k in (0..<16).map { $0 < 2 + 6 * k ? UInt8(1) : 0 } } }
    try NpyArray(masks, shape: [3, 2, 4, 4]).write(to: dir + "/masks.npy")
    let make = try CLI.run(["study", "make", "--folder", dir, "--fractions", "0.1,0.5", "--out", dir + "/study"])
    #expect(make.status == 0, "\(make.stderr)")
    let study = try StudySet.load(dir + "/study")
    #expect(study.images.count == 6)
    #expect(study.images.filter { $0.fraction == 0.1 }.allSatisfy { $0.keptPixels == 2 })
    #expect(study.images.filter { $0.fraction == 0.5 }.allSatisfy { $0.keptPixels == 8 })
    #expect(study.images.map(\.label).sorted() == [2, 2, 5, 5, 9, 9])
    let png = try ImageIO.readPNG(dir + "/study/i1-f100.png")
    #expect(Array(png.pixels[0..<6]) == (48..<54).map { UInt8($0) })  // kept pixels 0 and 1 of image 1
    #expect(Array(png.pixels[6..<9]) == [125, 123, 114])  // pixel 2 is masked
    // Masks of the wrong shape are refused with the expected shape.
    try NpyArray(masks, shape: [3, 1, 2, 4, 4]).write(to: dir + "/masks.npy")
    let bad = try CLI.run(["study", "make", "--folder", dir, "--fractions", "0.1,0.5", "--out", dir + "/bad"])
    #expect(bad.status != 0 && bad.stderr.contains("masks.npy must have shape (3, 2, 4, 4)"), "\(bad.stderr)")
  }

  /// `study serve` from the built binary, driven by a real browser (headless Chromium) with the
  /// keyboard; then Ctrl-C, and the answers must be in the database. Chromium is required
  /// (`scripts/install-deps.sh --tests` installs it); OVERINTERP_SKIP_BROWSER=1 runs only the rest.
  @Test func serveAStudyToABrowserAndStopWithCtrlC() throws {
    let dir = tempPath("serve")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let run = try fakeRun(dir)
    let make = try CLI.run([
      "study", "make", "--run", run, "--per-class", "1", "--fractions", "0.05,0.5", "--out", dir + "/study",
    ])
    #expect(make.status == 0, "\(make.stderr)")

    let server = try ServedStudy(study: dir + "/study", database: dir + "/answers.sqlite", adminToken: "admin-token-123")
    let url = server.url

    var expected: [(image: String, answer: Int)] = []
    if let executable = Chromium.executable {
      let browser = try Chromium(executable: executable)
      try browser.open(url)
      try browser.wait(for: "document.getElementById('intro') && !document.getElementById('intro').hidden")
      try browser.press("Enter", code: "Enter", keyCode: 13, text: "\r")  // starts the study
      try browser.wait(for: "document.body.dataset.ready === '1'")
      for k in [3, 1, 4] {
        let image = try #require(try browser.evaluate("document.getElementById('image').dataset.image") as? String)
        usleep(300_000)  // keys within 250 ms of a photo appearing are ignored (a key held from the last one)
        try browser.press("\(k)", code: "Digit\(k)", keyCode: 48 + k)
        try browser.wait(
          for: "document.body.dataset.ready === '1' && document.getElementById('image').dataset.image !== '\(image)'")
        expected.append((image, k))
      }
      let progress = try browser.evaluate("document.getElementById('progress').textContent") as? String
      #expect(progress?.contains("photo 4 of 20") == true, "\(progress ?? "nil")")
      // Reloading the page (or coming back later) continues at the same photo.
      try browser.send("Page.reload")
      try browser.wait(
        for: "document.body.dataset.ready === '1' && document.getElementById('progress').textContent.includes('photo 4 of 20')")
      // The image really is drawn enlarged with nearest-neighbour scaling.
      #expect(try browser.evaluate("getComputedStyle(document.getElementById('image')).imageRendering") as? String == "pixelated")
      #expect(try browser.evaluate("document.getElementById('image').naturalWidth") as? Int == 8)
    } else if ProcessInfo.processInfo.environment["OVERINTERP_SKIP_BROWSER"] != "1" {
      Issue.record(
        "no Chromium found: install it (scripts/install-deps.sh --tests), point CHROMIUM at it, or set OVERINTERP_SKIP_BROWSER=1")
    }

    // Ctrl-C stops the server cleanly.
    #expect(server.stop() == 0)
    let rows = try AnswerStore(path: dir + "/answers.sqlite").allAnswers()
    #expect(rows.count == expected.count)
    for (row, e) in zip(rows, expected) {
      #expect(row.image == e.image && row.answer == e.answer && row.fraction == 0.05 && row.milliseconds >= 0)
    }
  }

  /// Defects 2-5 of #22 in a real browser: at phone width (390 x 844) nothing is wider than the
  /// screen; a held key answers one photo, not many; an answer sent while the network is down is
  /// kept on screen and sent again when it is back (once); the instructions follow the study.
  @Test func theStudyPageWorksOnAPhoneWithAHeldKeyAndThroughANetworkDrop() throws {
    guard let executable = Chromium.executable else {
      if ProcessInfo.processInfo.environment["OVERINTERP_SKIP_BROWSER"] != "1" {
        Issue.record("no Chromium found: install it (scripts/install-deps.sh --tests) or set OVERINTERP_SKIP_BROWSER=1")
      }
      return
    }
    let dir = tempPath("phone")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let run = try fakeRun(dir)
    let make = try CLI.run([
      "study", "make", "--run", run, "--per-class", "1", "--fractions", "0.05,0.3,0.5,0.8", "--out", dir + "/study",
    ])
    #expect(make.status == 0, "\(make.stderr)")
    try Data(#"{"questions": [{"id": "age", "label": "Age", "type": "number", "min": 18, "max": 120, "required": true}]}"#.utf8)
      .write(to: URL(fileURLWithPath: dir + "/study/questions.json"))
    let server = try ServedStudy(study: dir + "/study", database: dir + "/answers.sqlite", adminToken: "admin-token-123")
    let browser = try Chromium(executable: executable)
    try browser.open("about:blank")
    try browser.send("Emulation.setDeviceMetricsOverride", ["width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": true])
    try browser.send("Page.navigate", ["url": server.url])
    try browser.wait(for: "document.getElementById('intro') && !document.getElementById('intro').hidden")
    let intro = try browser.evaluate("document.getElementById('intro').textContent") as? String ?? ""
    #expect(intro.contains("four parts") && intro.contains("ten kinds") && intro.contains("(0-9)"), "\(intro)")
    try browser.press("Enter", code: "Enter", keyCode: 13, text: "\r")
    // The host's question comes first: a form; Continue sends it.
    try browser.wait(for: "!document.getElementById('questions').hidden && !!document.querySelector('#questions-form input')")
    try browser.evaluate("document.querySelector('#questions-form input[name=age]').value = '34'")
    try browser.evaluate("document.querySelector('#questions-form button[type=submit]').click()")
    try browser.wait(for: "document.body.dataset.ready === '1'")
    // Nothing sticks out of the 390 px screen: the page, the photo, the bar, every class button.
    let widest =
      try browser.evaluate(
        """
        Math.max(document.documentElement.scrollWidth, ...['image', 'bar'].map(id => document.getElementById(id).getBoundingClientRect().right),
          ...[...document.querySelectorAll('#choices button')].map(b => b.getBoundingClientRect().right))
        """) as? Double
    #expect((widest ?? 1000) <= 390, "\(widest ?? -1)")
    func progress() throws -> String { try browser.evaluate("document.getElementById('progress').textContent") as? String ?? "" }
    #expect(try progress().contains("photo 1 of 40"))
    // Holding "7" for about half a second answers one photo.
    usleep(300_000)
    try browser.press("7", code: "Digit7", keyCode: 55, repeats: 15)
    try browser.wait(
      for: "document.body.dataset.ready === '1' && document.getElementById('progress').textContent.includes('photo 2 of 40')")
    usleep(500_000)
    let afterHold = try progress()
    #expect(afterHold.contains("photo 2 of 40"), "\(afterHold)")
    // The network drops as an answer is sent: the photo stays, a message says it is retrying,
    // and when the network is back the answer is stored once and the next photo comes.
    try browser.send("Network.enable")
    try browser.send(
      "Network.emulateNetworkConditions", ["offline": true, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1])
    usleep(300_000)
    try browser.press("2", code: "Digit2", keyCode: 50)
    try browser.wait(for: "document.body.dataset.offline === '1'")
    #expect(try browser.evaluate("document.getElementById('task').hidden") as? Bool == false)
    #expect(try browser.evaluate("document.getElementById('intro').hidden") as? Bool == true)
    try browser.send(
      "Network.emulateNetworkConditions", ["offline": false, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1])
    try browser.wait(
      for: "document.body.dataset.ready === '1' && document.getElementById('progress').textContent.includes('photo 3 of 40')")
    // After the tenth photo (the end of part 1) a pause comes; keys do nothing there; Continue
    // goes on with part 2.
    for n in 3...10 {
      usleep(300_000)
      try browser.press("1", code: "Digit1", keyCode: 49)
      if n < 10 {
        try browser.wait(
          for:
            "document.body.dataset.ready === '1' && document.getElementById('progress').textContent.includes('photo \(n + 1) of 40')"
        )
      }
    }
    try browser.wait(for: "!document.getElementById('pause').hidden")
    let pause = try browser.evaluate("document.getElementById('pause-text').textContent") as? String ?? ""
    #expect(pause.contains("Part 1 of 4 done"), "\(pause)")
    try browser.press("5", code: "Digit5", keyCode: 53)
    usleep(300_000)
    try browser.evaluate("document.getElementById('continue').click()")
    try browser.wait(
      for:
        "document.body.dataset.ready === '1' && document.getElementById('progress').textContent.includes('Part 2 of 4: photo 11 of 40')"
    )
    #expect(server.stop() == 0)
    let rows = try AnswerStore(path: dir + "/answers.sqlite").allAnswers()
    #expect(rows.map(\.answer) == [7, 2] + [Int](repeating: 1, count: 8), "\(rows.map(\.answer))")
  }
}
