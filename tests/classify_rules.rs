//! Record-class rules: every rule's examples, every class with real message shapes
//! (current and older wordings), and benign lines that must stay benign.

use fluxsight::classify::Classifier;

#[test]
fn builtin_rule_examples_hold() {
    let c = Classifier::builtin();
    let failures = c.check_examples();
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
