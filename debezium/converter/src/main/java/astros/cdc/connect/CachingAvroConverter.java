package astros.cdc.connect;

import io.apicurio.registry.serde.avro.NonRecordContainer;
import io.apicurio.registry.utils.converter.AvroConverter;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import org.apache.avro.generic.GenericContainer;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.errors.RetriableException;
import io.apicurio.registry.rest.client.exception.RestClientException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Apicurio's AvroConverter without its per-record schema lookup.
 *
 * <p>Why this exists: Apicurio 2.6's serializer finds a record's registry id by
 * rendering the record's Avro schema to JSON and looking that text up in its
 * cache, for every record (AvroSchemaParser.getSchemaFromData then
 * ERCache.getByContent). For Debezium's schemas that is kilobytes of garbage
 * per change, among Kafka Connect's largest costs in the pipeline's profile.
 * No maintained converter on Maven Central avoids it (Confluent's is not
 * published there; Apicurio 3's resolver has the same shape).
 *
 * <p>What it does: everything that touches the registry stays Apicurio's. The
 * first record of each (topic, Connect schema instance) goes through Apicurio
 * unchanged, registering the schema if auto-register is on. Its wire bytes are
 * the id header (magic byte and 4-byte id) and the Avro body; the header and an
 * Avro writer are kept and used for later records of that schema instance, but
 * only once they reproduce Apicurio's bytes for that first record exactly.
 * Debezium and its transforms hand out one Schema instance per table shape, so
 * a schema change is a new instance and goes through Apicurio again.
 *
 * <p>A registry that cannot answer (down, restarting, a 5xx) is reported as
 * Connect's RetriableException, so the connector's errors.retry.timeout keeps
 * the task waiting for it instead of killing the task for good; a refusal
 * (an incompatible schema, a 4xx) still fails at once.
 */
public class CachingAvroConverter<T> extends AvroConverter<T> {
    private static final Logger LOG = LoggerFactory.getLogger(CachingAvroConverter.class);
    /** Shapes kept per topic; past it the topic's cache starts over (schema churn, not steady state). */
    private static final int MAX_SHAPES_PER_TOPIC = 256;

    private final Map<String, Map<Schema, CachedWriter>> byTopic = new HashMap<>();
    private boolean cacheable;

    @Override
    public void configure(Map<String, ?> configs, boolean isKey) {
        super.configure(configs, isKey);
        // Ids in Kafka headers, or JSON-encoded Avro, are wire layouts this class does not reproduce.
        cacheable = !isTrue(configs.get("apicurio.registry.headers.enabled"))
                && !"JSON".equalsIgnoreCase(String.valueOf(configs.get("apicurio.registry.avro.encoding")));
    }

    @Override
    public byte[] fromConnectData(String topic, Schema schema, Object value) {
        return convert(topic, null, schema, value);
    }

    @Override
    public byte[] fromConnectData(String topic, Headers headers, Schema schema, Object value) {
        return convert(topic, headers, schema, value);
    }

    private synchronized byte[] convert(String topic, Headers headers, Schema schema, Object value) {
        if (!cacheable || schema == null || value == null) {
            return registryCall(topic, headers, applySchema(schema, value));
        }
        Map<Schema, CachedWriter> shapes = byTopic.computeIfAbsent(topic, t -> new IdentityHashMap<>());
        T avro = applySchema(schema, value);
        CachedWriter cached = shapes.get(schema);
        if (cached == CachedWriter.APICURIO) {
            return registryCall(topic, headers, avro);
        }
        if (cached != null) {
            return cached.write(avro);
        }
        byte[] bytes = registryCall(topic, headers, avro);
        CachedWriter candidate = CachedWriter.of(bytes, avro);
        if (candidate != null && Arrays.equals(candidate.write(avro), bytes)) {
            if (shapes.size() >= MAX_SHAPES_PER_TOPIC) {
                shapes.clear();
            }
            shapes.put(schema, candidate);
            LOG.info("{}: schema {} served from the cached id header {} from now on", topic, schema.name(), candidate.id());
        } else {
            LOG.warn("{}: schema {}: cannot reproduce Apicurio's bytes; every record goes through Apicurio", topic, schema.name());
            shapes.put(schema, CachedWriter.APICURIO);
        }
        return bytes;
    }

    private byte[] registryCall(String topic, Headers headers, T avro) {
        try {
            return serializer.serialize(topic, headers, avro);
        } catch (RuntimeException e) {
            if (registryUnavailable(e)) {
                throw new RetriableException(topic + ": the schema registry did not answer (" + e + "); retried", e);
            }
            throw e;
        }
    }

    /** Transient: an I/O failure anywhere in the chain, or the registry's own 5xx (or no code at all). */
    static boolean registryUnavailable(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof IOException) {
                return true;
            }
            if (t instanceof RestClientException) {
                Integer code = ((RestClientException) t).getError() == null ? null : ((RestClientException) t).getError().getErrorCode();
                return code == null || code >= 500;
            }
        }
        return false;
    }

    private static boolean isTrue(Object v) {
        return v != null && Boolean.parseBoolean(String.valueOf(v));
    }

    /** The id header and Avro writer of one schema. */
    private static final class CachedWriter {
        /** Marks a schema whose bytes this class could not reproduce: Apicurio serialises it. */
        static final CachedWriter APICURIO = new CachedWriter();
        private static final int HEADER = 5; // magic byte 0, then the id as a big-endian int

        private final byte[] header;
        private final GenericDatumWriter<Object> writer;
        private BinaryEncoder encoder;

        private CachedWriter() {
            this.header = null;
            this.writer = null;
        }

        private CachedWriter(byte[] header, org.apache.avro.Schema avroSchema) {
            this.header = header;
            this.writer = new GenericDatumWriter<>(avroSchema);
        }

        static CachedWriter of(byte[] bytes, Object avro) {
            if (bytes == null || bytes.length < HEADER || bytes[0] != 0 || !(avro instanceof GenericContainer)) {
                return null;
            }
            return new CachedWriter(Arrays.copyOf(bytes, HEADER), ((GenericContainer) avro).getSchema());
        }

        int id() {
            return ((header[1] & 0xff) << 24) | ((header[2] & 0xff) << 16) | ((header[3] & 0xff) << 8) | (header[4] & 0xff);
        }

        byte[] write(Object avro) {
            Object datum = avro instanceof NonRecordContainer ? ((NonRecordContainer<?>) avro).getValue() : avro;
            ByteArrayOutputStream out = new ByteArrayOutputStream(256);
            out.write(header, 0, HEADER);
            try {
                encoder = EncoderFactory.get().directBinaryEncoder(out, encoder);
                writer.write(datum, encoder);
                encoder.flush();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return out.toByteArray();
        }
    }
}
