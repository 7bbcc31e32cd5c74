package dev.weir.extproc.cache;

import dev.langchain4j.model.embedding.onnx.allminilml6v2q.AllMiniLmL6V2QuantizedEmbeddingModel;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Sentence embeddings computed in this process on the CPU: the quantized all-MiniLM-L6-v2 ONNX
 * model shipped in langchain4j's embedding module, L2-normalised so a dot product is the cosine.
 * Runs on its own bounded executor (a fixed number of threads and a short queue), never on a gRPC
 * thread; when the queue is full or the model is too slow, the caller gets null: a miss.
 */
public final class Embedder implements AutoCloseable {
  private final ThreadPoolExecutor executor;
  private volatile AllMiniLmL6V2QuantizedEmbeddingModel model;

  public Embedder(int threads) {
    executor = new ThreadPoolExecutor(threads, threads, 0, TimeUnit.MILLISECONDS,
        new ArrayBlockingQueue<>(threads * 64), r -> {
          Thread t = new Thread(r, "weir-cache-embed");
          t.setDaemon(true);
          return t;
        }, new ThreadPoolExecutor.AbortPolicy());
  }

  private AllMiniLmL6V2QuantizedEmbeddingModel model() {
    AllMiniLmL6V2QuantizedEmbeddingModel m = model;
    if (m == null) {
      synchronized (this) {
        if (model == null) {
          model = new AllMiniLmL6V2QuantizedEmbeddingModel();
        }
        m = model;
      }
    }
    return m;
  }

  /** The embedding computed on the calling thread (for index rebuilds, already off the gRPC threads). */
  public float[] embedHere(String text) {
    float[] v = model().embed(text).content().vector();
    double norm = 0;
    for (float x : v) {
      norm += x * x;
    }
    float scale = (float) (1 / Math.sqrt(norm));
    for (int i = 0; i < v.length; i++) {
      v[i] *= scale;
    }
    return v;
  }

  /** The embedding, or null when it could not be computed within {@code timeoutMillis}. */
  public float[] embed(String text, long timeoutMillis) {
    Future<float[]> f;
    try {
      f = executor.submit(() -> embedHere(text));
    } catch (java.util.concurrent.RejectedExecutionException e) {
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

  @Override
  public void close() {
    executor.shutdownNow();
  }
}
