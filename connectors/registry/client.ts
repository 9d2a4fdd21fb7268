/**
 * The schema registry (Apicurio) through its Confluent-compatible API
 * (`<REGISTRY_URL>/apis/ccompat/v7`, the one ClickHouse's AvroConfluent and
 * Connect's converter use): the only place the code reaches it.
 */

export class SchemaRegistry {
  readonly ccompatUrl: string;

  /** `ccompatUrl`: the Confluent-compatible API's base (config: registryCcompatUrl, or `<REGISTRY_URL>/apis/ccompat/v7`). */
  constructor(ccompatUrl: string) {
    this.ccompatUrl = ccompatUrl.replace(/\/$/, '');
  }

  static at(registryUrl: string): SchemaRegistry {
    return new SchemaRegistry(`${registryUrl.replace(/\/$/, '')}/apis/ccompat/v7`);
  }

  /** The registered subjects (one per topic key and value). */
  async subjects(timeoutMs = 10_000): Promise<string[]> {
    const res = await fetch(`${this.ccompatUrl}/subjects`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new Error(`GET ${this.ccompatUrl}/subjects: HTTP ${res.status}`);
    return (await res.json()) as string[];
  }

  /** Does the API answer? Never throws. */
  async answers(timeoutMs = 3_000): Promise<boolean> {
    return this.subjects(timeoutMs).then(
      () => true,
      () => false,
    );
  }
}
