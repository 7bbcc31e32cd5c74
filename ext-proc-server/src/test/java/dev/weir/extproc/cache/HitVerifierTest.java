package dev.weir.extproc.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The verifier's rules one by one, without the embedding models. */
class HitVerifierTest {
  private final HitVerifier verifier = new HitVerifier(HitVerifier.DEFAULT_MAX_DIFFERENT_WORDS);

  @Test
  void aParaphraseWithTheSameFactsIsAccepted() {
    assertTrue(verifier.accepts("How do I reverse a list in Python?", "How can I reverse a list in Python?"));
    assertTrue(verifier.accepts("How does one learn to cook?", "How do I learn to cook?"),
        "'one' as a pronoun is not a number");
  }

  @Test
  void numbersSpelledOutMustMatch() {
    assertFalse(verifier.accepts("I found a few thousand dollars", "I found a few hundred dollars"));
    assertFalse(verifier.accepts("Who came second in the race?", "Who came third in the race?"));
    assertTrue(verifier.accepts("Can I lose ten pounds in a month?", "Is it possible to lose ten pounds in a month?"));
  }

  @Test
  void possessivesOfAnotherPersonAreRefused() {
    assertFalse(verifier.accepts("How do I add a login to your website?", "How do I add a login to my website?"));
    assertTrue(verifier.accepts("How can I improve my English?", "How do I improve my English?"));
  }

  @Test
  void aPromptThatAsksOneMoreQuestionIsRefused() {
    assertFalse(verifier.accepts("How do I stop parental alienation?",
        "How do I stop parental alienation? How do I prove it in court?"));
    assertEquals(2, HitVerifier.sentences("What is it? Why is it so."));
    assertEquals(1, HitVerifier.sentences("Is 3.5 bigger than 3"));
    assertEquals(0, HitVerifier.sentences("   "));
  }

  @Test
  void aPromptPointingAtContentItDoesNotHoldNeverHits() {
    assertFalse(verifier.accepts("What is the solution of this math problem?",
        "What is the solution for this math problem?"));
    assertFalse(verifier.accepts("Fix the bug in the code below", "Fix the bug in the code below"),
        "even the same words: what 'below' points at may differ (the exact tier compares whole requests)");
  }
}
