// A predictor whose prediction takes `payload.ms` milliseconds and says on stdout (the journal, on
// the VM) when it starts, so a test knows a prediction is in flight without guessing at time.
class Slow {
  load() {}
  async predict(request) {
    const { ms = 0, id = "" } = request.payload;
    process.stdout.write(`${JSON.stringify({ severity: "INFO", message: `prediction ${id} started` })}\n`);
    await new Promise((resolve) => setTimeout(resolve, ms));
    return { slept: ms };
  }
}
module.exports = { Slow, Predictor: Slow }; // Predictor: the default entrypoint, so a bundle switch changes one key
