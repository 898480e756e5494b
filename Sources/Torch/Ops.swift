import CTorch

// Elementwise, shape and reduction operations. Each returns a new tensor and throws libtorch's
// message on failure. Binary and unary op codes are those of include/ctorch.h.

enum BinaryOp: Int32 {
  case add = 0, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge
}

enum UnaryOp: Int32 {
  case neg = 0, exp, log, sqrt, abs, relu, sigmoid, tanh, isnan, logicalNot, relu6, floor, round, sign,
    reciprocal, isfinite
}

enum ReduceOp: Int32 {
  case sum = 0, mean, max, min, prod, std, variance
}

extension Tensor {
  func binary(_ op: BinaryOp, _ other: Tensor) throws(TorchError) -> Tensor {
    try owned(ot_tensor_binary(op.rawValue, handle, other.handle))
  }

  func binary(_ op: BinaryOp, _ scalar: Double) throws(TorchError) -> Tensor {
    try owned(ot_tensor_binary_scalar(op.rawValue, handle, scalar))
  }

  func unary(_ op: UnaryOp) throws(TorchError) -> Tensor {
    try owned(ot_tensor_unary(op.rawValue, handle))
  }

  func reduce(_ op: ReduceOp, dims: [Int], keepDim: Bool) throws(TorchError) -> Tensor {
    let d = dims.map(Int64.init)
    return try owned(ot_tensor_reduce(op.rawValue, handle, d, Int32(d.count), keepDim ? 1 : 0))
  }

  // MARK: arithmetic

  public static func + (a: Tensor, b: Tensor) throws(TorchError) -> Tensor { try a.binary(.add, b) }
  public static func - (a: Tensor, b: Tensor) throws(TorchError) -> Tensor { try a.binary(.sub, b) }
  public static func * (a: Tensor, b: Tensor) throws(TorchError) -> Tensor { try a.binary(.mul, b) }
  public static func / (a: Tensor, b: Tensor) throws(TorchError) -> Tensor { try a.binary(.div, b) }
  public static func + (a: Tensor, b: Double) throws(TorchError) -> Tensor { try a.binary(.add, b) }
  public static func - (a: Tensor, b: Double) throws(TorchError) -> Tensor { try a.binary(.sub, b) }
  public static func * (a: Tensor, b: Double) throws(TorchError) -> Tensor { try a.binary(.mul, b) }
  public static func / (a: Tensor, b: Double) throws(TorchError) -> Tensor { try a.binary(.div, b) }
  public static prefix func - (a: Tensor) throws(TorchError) -> Tensor { try a.unary(.neg) }

  public func pow(_ e: Double) throws(TorchError) -> Tensor { try binary(.pow, e) }
  public func maximum(_ other: Tensor) throws(TorchError) -> Tensor { try binary(.maximum, other) }
  public func minimum(_ other: Tensor) throws(TorchError) -> Tensor { try binary(.minimum, other) }
  public func maximum(_ s: Double) throws(TorchError) -> Tensor { try binary(.maximum, s) }
  public func minimum(_ s: Double) throws(TorchError) -> Tensor { try binary(.minimum, s) }
  /// Every element limited to [lower, upper].
  public func clamped(_ lower: Double, _ upper: Double) throws(TorchError) -> Tensor {
    try binary(.maximum, lower).binary(.minimum, upper)
  }
  /// Elementwise min(max(self, lower), upper) with tensor bounds (broadcast).
  public func clamped(_ lower: Tensor, _ upper: Tensor) throws(TorchError) -> Tensor {
    try binary(.maximum, lower).binary(.minimum, upper)
  }

  // MARK: comparisons (bool results)

  public func eq(_ o: Tensor) throws(TorchError) -> Tensor { try binary(.eq, o) }
  public func ne(_ o: Tensor) throws(TorchError) -> Tensor { try binary(.ne, o) }
  public func lt(_ o: Tensor) throws(TorchError) -> Tensor { try binary(.lt, o) }
  public func le(_ o: Tensor) throws(TorchError) -> Tensor { try binary(.le, o) }
  public func gt(_ o: Tensor) throws(TorchError) -> Tensor { try binary(.gt, o) }
  public func ge(_ o: Tensor) throws(TorchError) -> Tensor { try binary(.ge, o) }
  public func eq(_ s: Double) throws(TorchError) -> Tensor { try binary(.eq, s) }
  public func lt(_ s: Double) throws(TorchError) -> Tensor { try binary(.lt, s) }
  public func le(_ s: Double) throws(TorchError) -> Tensor { try binary(.le, s) }
  public func gt(_ s: Double) throws(TorchError) -> Tensor { try binary(.gt, s) }
  public func ge(_ s: Double) throws(TorchError) -> Tensor { try binary(.ge, s) }

  // MARK: unary

  public func exp() throws(TorchError) -> Tensor { try unary(.exp) }
  public func log() throws(TorchError) -> Tensor { try unary(.log) }
  public func sqrt() throws(TorchError) -> Tensor { try unary(.sqrt) }
  public func abs() throws(TorchError) -> Tensor { try unary(.abs) }
  public func relu() throws(TorchError) -> Tensor { try unary(.relu) }
  public func relu6() throws(TorchError) -> Tensor { try unary(.relu6) }
  public func sigmoid() throws(TorchError) -> Tensor { try unary(.sigmoid) }
  public func tanh() throws(TorchError) -> Tensor { try unary(.tanh) }
  public func floor() throws(TorchError) -> Tensor { try unary(.floor) }
  public func round() throws(TorchError) -> Tensor { try unary(.round) }
  public func sign() throws(TorchError) -> Tensor { try unary(.sign) }
  public func isnan() throws(TorchError) -> Tensor { try unary(.isnan) }
  public func isfinite() throws(TorchError) -> Tensor { try unary(.isfinite) }
  public func logicalNot() throws(TorchError) -> Tensor { try unary(.logicalNot) }

  // MARK: reductions

  public func sum(dims: [Int] = [], keepDim: Bool = false) throws(TorchError) -> Tensor {
    try reduce(.sum, dims: dims, keepDim: keepDim)
  }
  public func mean(dims: [Int] = [], keepDim: Bool = false) throws(TorchError) -> Tensor {
    try reduce(.mean, dims: dims, keepDim: keepDim)
  }
  public func max(dims: [Int] = [], keepDim: Bool = false) throws(TorchError) -> Tensor {
    try reduce(.max, dims: dims, keepDim: keepDim)
  }
  public func min(dims: [Int] = [], keepDim: Bool = false) throws(TorchError) -> Tensor {
    try reduce(.min, dims: dims, keepDim: keepDim)
  }
  public func std(dims: [Int] = [], keepDim: Bool = false) throws(TorchError) -> Tensor {
    try reduce(.std, dims: dims, keepDim: keepDim)
  }
  public func variance(dims: [Int] = [], keepDim: Bool = false) throws(TorchError) -> Tensor {
    try reduce(.variance, dims: dims, keepDim: keepDim)
  }

  public func argmax(dim: Int, keepDim: Bool = false) throws(TorchError) -> Tensor {
    try owned(ot_tensor_argmax(handle, Int64(dim), keepDim ? 1 : 0))
  }

  /// The k largest (or smallest) values along `dim`, sorted, with their indices.
  public func topk(_ k: Int, dim: Int = -1, largest: Bool = true) throws(TorchError) -> (values: Tensor, indices: Tensor) {
    var v: OpaquePointer?
    var i: OpaquePointer?
    try checked(ot_tensor_topk(handle, Int64(k), Int64(dim), largest ? 1 : 0, &v, &i))
    return (try owned(v), try owned(i))
  }

  /// Sorted values and indices along `dim`; `stable` keeps equal elements in index order.
  public func sort(dim: Int = -1, descending: Bool = false, stable: Bool = true) throws(TorchError)
    -> (values: Tensor, indices: Tensor)
  {
    var v: OpaquePointer?
    var i: OpaquePointer?
    try checked(ot_tensor_sort(handle, Int64(dim), descending ? 1 : 0, stable ? 1 : 0, &v, &i))
    return (try owned(v), try owned(i))
  }

  public func matmul(_ other: Tensor) throws(TorchError) -> Tensor {
    try owned(ot_tensor_matmul(handle, other.handle))
  }

  // MARK: conversion and layout

  public func to(_ dtype: DType) throws(TorchError) -> Tensor {
    try owned(ot_tensor_to(handle, dtype.rawValue, device.code))
  }

  public func to(_ device: Device) throws(TorchError) -> Tensor {
    try owned(ot_tensor_to(handle, dtype.rawValue, device.code))
  }

  public func to(_ dtype: DType, _ device: Device) throws(TorchError) -> Tensor {
    try owned(ot_tensor_to(handle, dtype.rawValue, device.code))
  }

  /// A contiguous copy (or self's storage when already contiguous), in NCHW or channels-last order.
  public func contiguous(channelsLast: Bool = false) throws(TorchError) -> Tensor {
    try owned(ot_tensor_contiguous(handle, channelsLast ? 1 : 0))
  }

  public func detach() throws(TorchError) -> Tensor { try owned(ot_tensor_detach(handle)) }

  // MARK: in place

  /// Copies `source` into self (broadcasting, converting dtype and device), without recording
  /// the copy for autograd.
  public func copy_(_ source: Tensor) throws(TorchError) { try checked(ot_tensor_copy_(handle, source.handle)) }
  public func fill_(_ value: Double) throws(TorchError) { try checked(ot_tensor_fill_(handle, value)) }
  /// self += alpha * other
  public func add_(_ other: Tensor, alpha: Double = 1) throws(TorchError) {
    try checked(ot_tensor_add_(handle, other.handle, alpha))
  }

  // MARK: shape

  public func reshape(_ shape: [Int]) throws(TorchError) -> Tensor {
    let d = shape.map(Int64.init)
    return try owned(ot_tensor_reshape(handle, d, Int32(d.count)))
  }

  public func permute(_ dims: [Int]) throws(TorchError) -> Tensor {
    let d = dims.map(Int64.init)
    return try owned(ot_tensor_permute(handle, d, Int32(d.count)))
  }

  public func expand(_ shape: [Int]) throws(TorchError) -> Tensor {
    let d = shape.map(Int64.init)
    return try owned(ot_tensor_expand(handle, d, Int32(d.count)))
  }

  public func flatten(from start: Int = 0, to end: Int = -1) throws(TorchError) -> Tensor {
    try owned(ot_tensor_flatten(handle, Int64(start), Int64(end)))
  }

  /// Elements start..<end (step `step`) along `dim`; a view that shares storage.
  public func slice(dim: Int, _ start: Int, _ end: Int, step: Int = 1) throws(TorchError) -> Tensor {
    try owned(ot_tensor_slice(handle, Int64(dim), Int64(start), Int64(end), Int64(step)))
  }

  /// The sub-tensor at `index` along `dim`, with that dimension removed; a view.
  public func select(dim: Int, _ index: Int) throws(TorchError) -> Tensor {
    try owned(ot_tensor_select(handle, Int64(dim), Int64(index)))
  }

  public func indexSelect(dim: Int, _ index: Tensor) throws(TorchError) -> Tensor {
    try owned(ot_tensor_index_select(handle, Int64(dim), index.handle))
  }

  public func gather(dim: Int, _ index: Tensor) throws(TorchError) -> Tensor {
    try owned(ot_tensor_gather(handle, Int64(dim), index.handle))
  }

  public func maskedFill(_ mask: Tensor, _ value: Double) throws(TorchError) -> Tensor {
    try owned(ot_tensor_masked_fill(handle, mask.handle, value))
  }

  /// Pads the last dimensions: `pad` lists (before, after) pairs starting from the last dimension.
  public func pad(_ pad: [Int], value: Double = 0) throws(TorchError) -> Tensor {
    let p = pad.map(Int64.init)
    return try owned(ot_tensor_pad(handle, p, Int32(p.count), value))
  }

  public func flip(_ dims: [Int]) throws(TorchError) -> Tensor {
    let d = dims.map(Int64.init)
    return try owned(ot_tensor_flip(handle, d, Int32(d.count)))
  }

  /// Elementwise `condition ? a : b`.
  public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) throws(TorchError) -> Tensor {
    try owned(ot_tensor_where(condition.handle, a.handle, b.handle))
  }

  public static func cat(_ tensors: [Tensor], dim: Int = 0) throws(TorchError) -> Tensor {
    let handles: [OpaquePointer?] = tensors.map { $0.handle }
    return try withExtendedLifetime(tensors) { () throws(TorchError) -> Tensor in
      try owned(ot_tensor_cat(handles, Int32(handles.count), Int64(dim)))
    }
  }

  public static func stack(_ tensors: [Tensor], dim: Int = 0) throws(TorchError) -> Tensor {
    let handles: [OpaquePointer?] = tensors.map { $0.handle }
    return try withExtendedLifetime(tensors) { () throws(TorchError) -> Tensor in
      try owned(ot_tensor_stack(handles, Int32(handles.count), Int64(dim)))
    }
  }
}
