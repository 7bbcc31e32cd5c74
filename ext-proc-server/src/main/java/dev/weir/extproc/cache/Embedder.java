package dev.weir.extproc.cache;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.langchain4j.model.embedding.onnx.AbstractInProcessEmbeddingModel;
import dev.langchain4j.model.embedding.onnx.OnnxBertBiEncoder;
import dev.langchain4j.model.embedding.onnx.PoolingMode;
import java.io.IOException;
import java.io.InputStream;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Sentence embeddings computed in this process on the CPU by an ONNX model shipped in one of
 * langchain4j's embedding modules, L2-normalised so a dot product is the cosine. Runs on its own
 * bounded executor (a fixed number of threads and a short queue), never on a gRPC thread; when the
 * queue is full or the model is too slow, the caller gets null: a miss. Recent prompts' embeddings
 * are remembered, so a prompt asked again (in another partition, or stored after a miss) is not
 * embedded twice.
 */
public final class Embedder implements AutoCloseable {
  /** The models this gateway ships: the search model finds candidates, the judge must agree. */
  public enum Model {
    /** all-MiniLM-L6-v2, quantized: 6 layers, fast; finds the candidates in the index. */
    SEARCH("all-minilm-l6-v2-q.onnx", "all-minilm-l6-v2-q-tokenizer.json", PoolingMode.MEAN),
    /** bge-small-en-v1.5, quantized: 12 layers, about twice the cost; asked only about candidates. */
    JUDGE("bge-small-en-v1.5-q.onnx", "bge-small-en-v1.5-q-tokenizer.json", PoolingMode.CLS);

    final String onnx;
    final String tokenizer;
    final PoolingMode pooling;

    Model(String onnx, String tokenizer, PoolingMode pooling) {
      this.onnx = onnx;
      this.tokenizer = tokenizer;
      this.pooling = pooling;
    }
  }

  private final Model which;
  private final ThreadPoolExecutor executor;
  private final Cache<String, float[]> recent = Caffeine.newBuilder().maximumSize(10_000).build();
  private volatile Loaded model;

  public Embedder(Model which, int threads) {
    this.which = which;
    executor = new ThreadPoolExecutor(threads, threads, 0, TimeUnit.MILLISECONDS,
        new ArrayBlockingQueue<>(threads * 64), r -> {
          Thread t = new Thread(r, "weir-cache-embed");
          t.setDaemon(true);
          return t;
        }, new ThreadPoolExecutor.AbortPolicy());
  }

  /**
   * The model with a session of one thread per call: the gateway runs several embeddings at once
   * on its own threads, and ONNX Runtime's default (a pool as wide as the machine, spinning while
   * it waits) makes those calls fight for the same cores and stretches the slowest ones.
   */
  private static final class Loaded extends AbstractInProcessEmbeddingModel {
    private final OnnxBertBiEncoder encoder;

    Loaded(Model m) {
      super(Runnable::run);
      try (InputStream onnx = resource(m.onnx); InputStream tokenizer = resource(m.tokenizer);
          OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
        options.setIntraOpNumThreads(1);
        options.setInterOpNumThreads(1);
        options.addConfigEntry("session.intra_op.allow_spinning", "0");
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        encoder = new OnnxBertBiEncoder(env, env.createSession(onnx.readAllBytes(), options), tokenizer, m.pooling);
      } catch (IOException | OrtException e) {
        throw new IllegalStateException("cannot load the embedding model " + m.onnx, e);
      }
    }

    private static InputStream resource(String name) throws IOException {
      InputStream in = Embedder.class.getClassLoader().getResourceAsStream(name);
      if (in == null) {
        throw new IOException(name + " is not on the class path");
      }
      return in;
    }

    @Override
    protected OnnxBertBiEncoder model() {
      return encoder;
    }
  }

  private Loaded model() {
    Loaded m = model;
    if (m == null) {
      synchronized (this) {
        if (model == null) {
          model = new Loaded(which);
        }
        m = model;
      }
    }
    return m;
  }

  /** The embedding computed on the calling thread (for index rebuilds, already off the gRPC threads). */
  public float[] embedHere(String text) {
    float[] known = recent.getIfPresent(text);
    if (known != null) {
      return known;
    }
    float[] v = model().embed(text).content().vector();
    double norm = 0;
    for (float x : v) {
      norm += x * x;
    }
    float scale = (float) (1 / Math.sqrt(norm));
    for (int i = 0; i < v.length; i++) {
      v[i] *= scale;
    }
    recent.put(text, v);
    return v;
  }

  /** The embedding, or null when it could not be computed within {@code timeoutMillis}. */
  public float[] embed(String text, long timeoutMillis) {
    float[] known = recent.getIfPresent(text);
    if (known != null) {
      return known;
    }
    Future<float[]> f;
    try {
      f = executor.submit(() -> embedHere(text));
    } catch (RejectedExecutionException e) {
      return null;
    }
    try {
      return f.get(timeoutMillis, TimeUnit.MILLISECONDS);
    } catch (TimeoutException | ExecutionException e) {
      f.cancel(false);
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    }
  }

  /** The cosine of two embeddings of this embedder. */
  public static double cosine(float[] x, float[] y) {
    double s = 0;
    for (int i = 0; i < x.length; i++) {
      s += x[i] * y[i];
    }
    return s;
  }

  @Override
  public void close() {
    executor.shutdownNow();
  }
}
