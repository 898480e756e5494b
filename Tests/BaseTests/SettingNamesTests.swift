import Base
import Testing

/// Library messages name settings as `{name}`; the front end's names replace them.
@Suite struct SettingNamesTests {
  let flags = ["labels": "--labels", "inputShape": "--input-shape"]

  @Test func namesAreReplacedAndUnknownOnesLeftBare() {
    #expect(SettingNames.render("an .npy needs {labels} L.npy", names: flags) == "an .npy needs --labels L.npy")
    #expect(SettingNames.render("give {inputShape} or {labels}", names: flags) == "give --input-shape or --labels")
    #expect(SettingNames.render("give {architecture}", names: flags) == "give architecture")
    #expect(SettingNames.render("give {labels}", names: [:]) == "give labels")
  }

  @Test func bracesAroundOtherTextStay() {
    for text in ["a JSON object {\"k\": 1}", "{} empty", "unclosed {labels", "{la bels}", "ends with {"] {
      #expect(SettingNames.render(text, names: flags) == text)
    }
    #expect(SettingNames.render("{{labels}}", names: flags) == "{--labels}")
  }

  @Test func problemsNameTheSettingOrItsFlag() {
    let p = SettingProblem("holdout", "must be below {labels} count, got 7")
    #expect(p.named(by: ["holdout": "--holdout", "labels": "--labels"]) == "--holdout must be below --labels count, got 7")
    #expect(p.named(by: [:]) == "holdout must be below labels count, got 7")
  }
}
