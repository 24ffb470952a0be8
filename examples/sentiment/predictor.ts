import Sentiment from "sentiment";
import type { Payload } from "../../index";

/**
 * Sentiment analysis for `/predict_dict`: `{"payload": {"text": "..."}}` → score and label.
 * The `sentiment` package ships its word list (AFINN-165), so nothing is downloaded at load time.
 */
export class Predictor {
  private analyzer: Sentiment | undefined;

  load(): void {
    this.analyzer = new Sentiment();
  }

  async predict(request: Payload) {
    const text = request.payload.text;
    if (typeof text !== "string" || text.length === 0) {
      return new Response(JSON.stringify({ error: "payload.text must be a non-empty string" }), {
        status: 422,
        headers: { "content-type": "application/json" },
      });
    }
    const result = (this.analyzer as Sentiment).analyze(text);
    return {
      label: result.score > 0 ? "positive" : result.score < 0 ? "negative" : "neutral",
      score: result.score,
      comparative: result.comparative,
      positive: result.positive,
      negative: result.negative,
    };
  }
}
