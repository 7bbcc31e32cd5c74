package dev.weir.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** XXH64 answers as the reference xxHash library (libxxhash 0.8.1) gives them, the hash behind Envoy's HashUtil::xxHash64. */
class XxHash64Test {
  @Test
  void matchesTheReferenceLibraryForShortMediumAndLongInputsAndSeeds() {
    assertEquals(0xef46db3751d8e999L, XxHash64.hash(""));
    assertEquals(0x44bc2cf5ad770999L, XxHash64.hash("abc"));
    assertEquals(0xbea9ca8199328908L, XxHash64.hash("abc", 1));
    assertEquals(0xdce54358f96a19fcL, XxHash64.hash("10.0.0.1:8000_0"));
    assertEquals(0xfbcea83c8a378bf1L, XxHash64.hash("Nobody inspects the spammish repetition"));
    assertEquals(0x045c287b1bdab58dL, XxHash64.hash("0123456789abcdef0123456789abcdefXYZ!"));
  }
}
