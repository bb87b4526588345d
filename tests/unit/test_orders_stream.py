from spark_jobs.orders_stream import failure_reason

WRAPPED = """[STREAM_FAILED] Query [id = 960f, runId = 7958] terminated with exception: An exception was raised by the Python Proxy. Return Message: Traceback (most recent call last):
  File "/work/main/.venv/lib/python3.11/site-packages/pymysql/connections.py", line 691, in connect
    sock = socket.create_connection(
ConnectionRefusedError: [Errno 111] Connection refused

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/work/main/spark_jobs/sinks.py", line 66, in __call__
pymysql.err.OperationalError: (2003, "Can't connect to MySQL server on '127.0.0.1' ([Errno 111] Connection refused)")
"""


def test_a_failed_batch_is_reported_by_its_innermost_python_exception():
    assert failure_reason(Exception(WRAPPED)) == (
        "pymysql.err.OperationalError: (2003, \"Can't connect to MySQL server on '127.0.0.1' "
        '([Errno 111] Connection refused)")'
    )


def test_other_failures_are_reported_by_their_first_line():
    assert failure_reason(RuntimeError("Kafka: timed out\n\tat org.apache.kafka.Foo")) == "Kafka: timed out"
    assert failure_reason(RuntimeError()) == "RuntimeError"


def test_a_java_error_inside_a_python_one_is_reported_by_the_java_error():
    text = """py4j.Py4JException: An exception was raised by the Python Proxy. Return Message: Traceback (most recent call last):
    raise Py4JJavaError(
py4j.protocol.Py4JJavaError: An error occurred while calling o353.save.
: java.io.IOException: Failed to open native connection to Cassandra at {127.0.0.1:9042} :: Could not reach any contact point
\tat com.datastax.spark.connector.cql.CassandraConnector$.createSession(CassandraConnector.scala:173)
Caused by: com.datastax.oss.driver.api.core.AllNodesFailedException: Could not reach any contact point
"""
    assert failure_reason(Exception(text)) == (
        "java.io.IOException: Failed to open native connection to Cassandra at "
        "{127.0.0.1:9042} :: Could not reach any contact point"
    )
