import Base
import Testing

@Suite struct FieldDifferencesTests {
  struct Inner: Codable { var a: Int; var list: [Int]; var note: String? }
  struct Outer: Codable { var name: String; var inner: Inner; var maybe: Inner? }

  @Test func namesNestedFieldsWithBothValues() {
    let x = Outer(name: "x", inner: Inner(a: 1, list: [1, 2], note: nil), maybe: nil)
    var y = x
    #expect(differingFields(x, y).isEmpty)
    y.inner.a = 2
    y.inner.list = [1, 3]
    #expect(differingFields(x, y) == ["inner.a (1 vs 2)", "inner.list"], "arrays are compared whole and not printed")
    y = x
    y.inner.note = "n"
    y.maybe = Inner(a: 5, list: [], note: nil)
    #expect(differingFields(x, y) == ["inner.note (none vs \"n\")", "maybe.a (none vs 5)", "maybe.list"])
    y = x
    y.name = String(repeating: "z", count: 50)
    #expect(differingFields(x, y) == ["name"], "long values are named, not printed")
  }
}
