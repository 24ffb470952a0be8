/** The boot's log line (the serial console and Cloud Logging on a VM): `budgetml-boot: …`. */
export const bootLog = (message: string): void => {
  process.stderr.write(`budgetml-boot: ${message}\n`);
};
