// Sink ceiling (b): Cassandra's own write rate, from the JVM, with the DataStax Java driver.
//
// Usage (bench/drain.py runs it; Java 11+ compiles a one-file program as it starts it):
//   java -cp 'jars/*' bench/CassandraWriteCeiling.java HOST:PORT LOCAL_DC KEYSPACE ORDERS IN_FLIGHT \
//        'INSERT INTO orders (...) VALUES (...)' 'INSERT INTO orders_by_time (...) VALUES (...)'
// with CASSANDRA_USERNAME and CASSANDRA_PASSWORD in the environment when Cassandra asks for them.
//
// Writes ORDERS orders, each a row in every table of the statements given (the
// stream's two), as prepared single-row inserts sent asynchronously with at most
// IN_FLIGHT unanswered, at LOCAL_QUORUM. The values are generated from each
// column's type, so the statements alone say what a row holds; orders_by_time's
// rows spread over the day's 1440 minute partitions as the stream's do.
// Prints one JSON line: {"orders": ..., "seconds": ..., "orders_per_s": ..., "failed": ...}.

import com.datastax.oss.driver.api.core.ConsistencyLevel;
import com.datastax.oss.driver.api.core.CqlSession;
import com.datastax.oss.driver.api.core.cql.BoundStatement;
import com.datastax.oss.driver.api.core.cql.ColumnDefinition;
import com.datastax.oss.driver.api.core.cql.PreparedStatement;
import com.datastax.oss.driver.api.core.type.DataType;
import com.datastax.oss.driver.api.core.type.DataTypes;
import java.math.BigDecimal;
import java.net.InetSocketAddress;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

public class CassandraWriteCeiling {
    static Object value(DataType type, long order, UUID orderId) {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        if (type.equals(DataTypes.UUID)) return orderId;
        if (type.equals(DataTypes.INT)) return random.nextInt(1, 10_000);
        if (type.equals(DataTypes.BIGINT)) return random.nextLong();
        if (type.equals(DataTypes.SMALLINT)) return (short) (order % 1440);
        if (type.equals(DataTypes.TEXT)) return "bench-ceiling";
        if (type.equals(DataTypes.DECIMAL)) return BigDecimal.valueOf(random.nextInt(100, 100_000), 2);
        if (type.equals(DataTypes.TIMESTAMP)) return Instant.now();
        if (type.equals(DataTypes.DATE)) return LocalDate.now();
        throw new IllegalArgumentException("no generated value for a column of type " + type);
    }

    static BoundStatement bind(PreparedStatement insert, long order, UUID orderId) {
        List<Object> values = new ArrayList<>();
        for (ColumnDefinition column : insert.getVariableDefinitions()) {
            values.add(value(column.getType(), order, orderId));
        }
        return insert.bind(values.toArray()).setConsistencyLevel(ConsistencyLevel.LOCAL_QUORUM);
    }

    public static void main(String[] args) throws InterruptedException {
        String[] hostPort = args[0].split(":");
        long orders = Long.parseLong(args[3]);
        int inFlight = Integer.parseInt(args[4]);
        var builder = CqlSession.builder()
                .addContactPoint(new InetSocketAddress(hostPort[0], Integer.parseInt(hostPort[1])))
                .withLocalDatacenter(args[1])
                .withKeyspace(args[2]);
        String user = System.getenv("CASSANDRA_USERNAME");
        if (user != null && !user.isEmpty()) builder.withAuthCredentials(user, System.getenv("CASSANDRA_PASSWORD"));
        try (CqlSession session = builder.build()) {
            List<PreparedStatement> inserts = new ArrayList<>();
            for (int i = 5; i < args.length; i++) inserts.add(session.prepare(args[i]));
            Semaphore slots = new Semaphore(inFlight);
            AtomicLong failed = new AtomicLong();
            long started = System.nanoTime();
            for (long order = 0; order < orders; order++) {
                UUID orderId = UUID.randomUUID();
                for (PreparedStatement insert : inserts) {
                    slots.acquire();
                    session.executeAsync(bind(insert, order, orderId)).whenComplete((result, error) -> {
                        if (error != null) failed.incrementAndGet();
                        slots.release();
                    });
                }
            }
            slots.acquire(inFlight);
            double seconds = (System.nanoTime() - started) / 1e9;
            System.out.printf("{\"orders\": %d, \"seconds\": %.3f, \"orders_per_s\": %.1f, \"failed\": %d}%n",
                    orders, seconds, (orders - failed.get()) / seconds, failed.get());
        }
    }
}
