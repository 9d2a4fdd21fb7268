/**
 * The schema registry (Apicurio) through its Confluent-compatible API
 * (`<REGISTRY_URL>/apis/ccompat/v7`, the one ClickHouse's AvroConfluent and
 * Connect's converter use): the only place the code reaches it.
 */

export interface RegisteredSchema {
  subject: string;
  version: number;
  id: number;
  schema: string;
}

export class SchemaRegistry {
  readonly ccompatUrl: string;

  /** `ccompatUrl`: the Confluent-compatible API's base (config: registryCcompatUrl, or `<REGISTRY_URL>/apis/ccompat/v7`). */
  constructor(ccompatUrl: string) {
    this.ccompatUrl = ccompatUrl.replace(/\/$/, '');
  }

  static at(registryUrl: string): SchemaRegistry {
    return new SchemaRegistry(`${registryUrl.replace(/\/$/, '')}/apis/ccompat/v7`);
  }

  private async get<T>(path: string, timeoutMs = 10_000): Promise<T> {
    const res = await fetch(`${this.ccompatUrl}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new Error(`GET ${this.ccompatUrl}${path}: HTTP ${res.status}`);
    return (await res.json()) as T;
  }

  /** The registered subjects (one per topic key and value). */
  subjects(timeoutMs = 10_000): Promise<string[]> {
    return this.get<string[]>('/subjects', timeoutMs);
  }

  /** Every version of every subject, with its id and text. */
  async allSchemas(): Promise<RegisteredSchema[]> {
    const out: RegisteredSchema[] = [];
    for (const subject of await this.subjects()) {
      const s = encodeURIComponent(subject);
      for (const version of await this.get<number[]>(`/subjects/${s}/versions`)) {
        const v = await this.get<{ id: number; schema: string }>(`/subjects/${s}/versions/${version}`);
        out.push({ subject, version, id: v.id, schema: v.schema });
      }
    }
    return out;
  }

  /** The schema text an id resolves to; undefined when the registry does not know it. */
  schemaById(id: number): Promise<string | undefined> {
    return this.get<{ schema: string }>(`/schemas/ids/${id}`).then(
      (r) => r.schema,
      () => undefined,
    );
  }

  /** Does the API answer? Never throws. */
  async answers(timeoutMs = 3_000): Promise<boolean> {
    return this.subjects(timeoutMs).then(
      () => true,
      () => false,
    );
  }
}
