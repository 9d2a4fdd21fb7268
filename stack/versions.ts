/**
 * Every version the native stack installs, pinned in one place. The
 * docker-compose.yml image tags mirror these (checked by test/unit/compose).
 */
export const versions = {
  postgresMajor: 15,
  kafka: '4.3.0',
  scala: '2.13',
  debezium: '3.6.1.Final',
  apicurio: '3.2.5',
  log4j: '2.25.1',
  slf4j: '1.7.36',
  chdb: '3.4.0',
  clickhouse: '26.7',
  temporalCli: '1.9.1',
  dbtCore: '1.10.15',
  dbtClickhouse: '1.9.5',
} as const;
