// The user's predictor: counts words, so a prediction shows it really ran.
export class Predictor {
  load() {
    this.ready = true;
  }
  async predict(request) {
    const text = String(request.payload?.text ?? "");
    return { words: text.split(/\s+/).filter(Boolean).length, ready: this.ready };
  }
}
