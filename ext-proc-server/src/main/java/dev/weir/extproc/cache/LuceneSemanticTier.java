package dev.weir.extproc.cache;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.KnnFloatVectorField;
import org.apache.lucene.document.StoredField;
import org.apache.lucene.document.StringField;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.Term;
import org.apache.lucene.index.VectorSimilarityFunction;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.KnnFloatVectorQuery;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.SearcherManager;
import org.apache.lucene.search.TermQuery;
import org.apache.lucene.search.TopDocs;
import org.apache.lucene.store.ByteBuffersDirectory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The semantic tier on an in-memory Lucene index: one HNSW graph of prompt embeddings (dot product
 * of unit vectors), searched with a filter on the partition, so a lookup only ever sees its own
 * partition's entries. Beside each vector it keeps the prompt and its embedding under the second
 * model, which a candidate must satisfy too. New entries are embedded and indexed by one
 * background thread; the searcher is refreshed before a lookup when entries were added.
 * Thread-safe.
 */
public final class LuceneSemanticTier implements SemanticTier {
  private static final Logger log = LoggerFactory.getLogger(LuceneSemanticTier.class);
  /** Candidates checked by the verifier, nearest first. */
  static final int CANDIDATES = 4;
  private final Embedder embedder;
  /** The second model, asked only about candidates that pass the threshold and the rules. */
  private final Embedder judge;
  private final HitVerifier verifier;
  private final boolean ownsEmbedders;
  private final long embedTimeoutMillis;
  private final ByteBuffersDirectory directory = new ByteBuffersDirectory();
  private final IndexWriter writer;
  private final SearcherManager searchers;
  private final AtomicBoolean dirty = new AtomicBoolean();
  private final ThreadPoolExecutor indexer = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS,
      new ArrayBlockingQueue<>(200_000), r -> {
        Thread t = new Thread(r, "weir-cache-index");
        t.setDaemon(true);
        return t;
      }, new ThreadPoolExecutor.DiscardPolicy());

  /** A tier on embedders its caller owns (and closes). */
  public LuceneSemanticTier(Embedder embedder, Embedder judge, HitVerifier verifier, long embedTimeoutMillis) {
    this(embedder, judge, verifier, embedTimeoutMillis, false);
  }

  LuceneSemanticTier(Embedder embedder, Embedder judge, HitVerifier verifier, long embedTimeoutMillis,
      boolean ownsEmbedders) {
    this.ownsEmbedders = ownsEmbedders;
    this.embedder = embedder;
    this.judge = judge;
    this.verifier = verifier;
    this.embedTimeoutMillis = embedTimeoutMillis;
    try {
      writer = new IndexWriter(directory, new IndexWriterConfig().setRAMBufferSizeMB(64));
      searchers = new SearcherManager(writer, null);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public void add(CachedAnswer a) {
    if (a.lastTurnText() != null) {
      indexer.execute(() -> index(a.partition(), a.key(), a.lastTurnText(), embedder.embedHere(a.lastTurnText()),
          judge.embedHere(a.lastTurnText())));
    }
  }

  /**
   * Indexes a prompt whose embeddings are known (the benchmark loads entries this way); the
   * second model's is kept beside it, so a lookup embeds only the new prompt with it.
   */
  public void index(String partition, String key, String text, float[] vector, float[] judgeVector) {
    Document d = new Document();
    String id = partition + ":" + key;
    d.add(new StringField("id", id, Field.Store.NO));
    d.add(new StringField("partition", partition, Field.Store.NO));
    d.add(new StoredField("key", key));
    d.add(new StoredField("text", text));
    d.add(new StoredField("judge", toBytes(judgeVector)));
    d.add(new KnnFloatVectorField("v", vector, VectorSimilarityFunction.DOT_PRODUCT));
    try {
      writer.updateDocument(new Term("id", id), d);
      dirty.set(true);
    } catch (IOException | RuntimeException e) {
      log.warn("cache: could not index an entry: {}", e.toString());
    }
  }

  @Override
  public void remove(CachedAnswer a) {
    try {
      writer.deleteDocuments(new Term("id", a.partition() + ":" + a.key()));
      dirty.set(true);
    } catch (IOException | RuntimeException e) {
      log.warn("cache: could not drop an entry from the index: {}", e.toString());
    }
  }

  @Override
  public Match find(String partition, String text, Checks checks) {
    float[] v = embedder.embed(text, embedTimeoutMillis);
    return v == null ? null : find(partition, text, v, null, checks);
  }

  /**
   * The lookup for a prompt whose search embedding is known; {@code judgeVector} is its second
   * model's embedding when known (else computed if a candidate needs it).
   */
  public Match find(String partition, String text, float[] vector, float[] judgeVector, Checks checks) {
    try {
      if (dirty.getAndSet(false)) {
        searchers.maybeRefreshBlocking();
      }
      IndexSearcher s = searchers.acquire();
      try {
        TopDocs top = s.search(new KnnFloatVectorQuery("v", vector, CANDIDATES,
            new TermQuery(new Term("partition", partition))), CANDIDATES);
        for (ScoreDoc sd : top.scoreDocs) {
          // Lucene scores DOT_PRODUCT as (1 + cosine) / 2 for unit vectors.
          double cosine = 2 * sd.score - 1;
          if (cosine < checks.threshold()) {
            break;
          }
          Document d = s.storedFields().document(sd.doc);
          if (!checks.verify()) {
            return new Match(partition, d.get("key"), cosine);
          }
          if (!verifier.accepts(d.get("text"), text)) {
            continue;
          }
          // sure >= 1 always asks: a float cosine of two identical prompts may round to 1.0.
          if (checks.agreement() > 0 && (checks.sure() >= 1 || cosine < checks.sure())) {
            if (judgeVector == null) {
              judgeVector = judge.embed(text, embedTimeoutMillis);
              if (judgeVector == null) {
                return null; // no second opinion in time: a miss, never an unchecked hit
              }
            }
            if (Embedder.cosine(fromBytes(d.getBinaryValue("judge")), judgeVector) < checks.agreement()) {
              continue;
            }
          }
          return new Match(partition, d.get("key"), cosine);
        }
        return null;
      } finally {
        searchers.release(s);
      }
    } catch (IOException | RuntimeException e) {
      log.warn("cache: semantic lookup failed, a miss: {}", e.toString());
      return null;
    }
  }

  private static byte[] toBytes(float[] v) {
    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(v.length * Float.BYTES);
    b.asFloatBuffer().put(v);
    return b.array();
  }

  private static float[] fromBytes(org.apache.lucene.util.BytesRef bytes) {
    float[] v = new float[bytes.length / Float.BYTES];
    java.nio.ByteBuffer.wrap(bytes.bytes, bytes.offset, bytes.length).asFloatBuffer().get(v);
    return v;
  }

  /** Waits until every entry handed to {@link #add} is indexed (tests, benchmark). */
  public void awaitIndexed() throws InterruptedException {
    while (indexer.getQueue().size() > 0 || indexer.getActiveCount() > 0) {
      Thread.sleep(5);
    }
  }

  /** Bytes the index holds: its files in memory plus the writer's buffers. */
  public long memoryBytes() throws IOException {
    writer.commit();
    long bytes = writer.ramBytesUsed();
    for (String f : directory.listAll()) {
      bytes += directory.fileLength(f);
    }
    return bytes;
  }

  @Override
  public void close() {
    indexer.shutdownNow();
    if (ownsEmbedders) {
      embedder.close();
      judge.close();
    }
    try {
      searchers.close();
      writer.close();
    } catch (IOException e) {
      log.debug("cache: closing the index: {}", e.toString());
    }
  }
}
