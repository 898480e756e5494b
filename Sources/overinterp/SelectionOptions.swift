import ArgumentParser
import Analysis
import Audit
import Base
import Datasets
import Foundation
import Models
import SIS
import Torch

/// Which images of a dataset to work on.
struct SelectionOptions: ParsableArguments {
  @Option(help: "Positions in the dataset: 0..<100, 0...99, or 3,17,42.")
  var indices: String?

  @Option(help: "Every image whose predicted class has probability >= this (the paper: 0.99 on CIFAR-10, 0.9 on ImageNet).")
  var confident: Double?

  @Flag(help: "With --confident: only images that are also classified correctly.")
  var correctOnly = false

  @Flag(help: "Every image of the dataset.")
  var all = false

  @Option(help: "At most this many of the selected images (the first ones).")
  var maxImages: Int?

  func validate() throws {
    if chosenModes > 1 { throw ValidationError("choose the images with exactly one of --indices, --confident or --all") }
    if let confident, !(confident >= 0 && confident <= 1) {
      throw ValidationError("--confident must be in [0, 1], got \(confident)")
    }
    if let indices, parseIndexList(indices) == nil {
      throw ValidationError("--indices must look like 0..<100, 0...99 or 3,17,42, got '\(indices)'")
    }
    if let maxImages, maxImages < 1 { throw ValidationError("--max-images must be at least 1, got \(maxImages)") }
    if correctOnly && confident == nil { throw ValidationError("--correct-only goes with --confident") }
  }

  var chosenModes: Int { [indices != nil, confident != nil, all].filter { $0 }.count }

  /// For commands that need a selection.
  func requireOne() throws {
    if chosenModes != 1 { throw ValidationError("choose the images with exactly one of --indices, --confident or --all") }
  }

  /// The selection the flags describe (checked in `validate`).
  func imageSelection() throws -> ImageSelection {
    let rule: ImageSelection.Rule
    if let indices, let list = parseIndexList(indices) {
      rule = .indices(list, text: indices)
    } else if let confident {
      rule = .confident(threshold: confident, correctOnly: correctOnly)
    } else if all {
      rule = .all
    } else {
      throw ValidationError("choose the images with exactly one of --indices, --confident or --all")
    }
    return ImageSelection(rule, maxImages: maxImages)
  }

  /// Positions selected and a description for the manifest.
  func select(_ data: ImageDataset, classifier: any Classifier, device: Device) throws -> ([Int], String) {
    try imageSelection().select(data, classifier: classifier, device: device)
  }
}
