// Starts DynamoDB Local listening on 127.0.0.1 only.
//
// DynamoDB Local has no option for its listening address: it builds a Jetty
// server with `new Server(port)`, which listens on every interface. This
// launcher builds the server exactly as DynamoDB Local's own main does
// (ServerRunner.createServerFromCommandLineArgs, same options), sets the
// host of its connector to 127.0.0.1 before it starts, then starts it.
// local-stage compiles it once with javac (dynamodb_local.rs).
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public final class LoopbackDynamoDbLocal {
    public static void main(String[] args) throws Exception {
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server jetty = (Server) field.get(proxy);
        int bound = 0;
        for (Connector connector : jetty.getConnectors()) {
            if (connector instanceof ServerConnector) {
                ((ServerConnector) connector).setHost("127.0.0.1");
                bound++;
            }
        }
        if (bound == 0) {
            System.err.println("loopback launcher: DynamoDB Local has no ServerConnector to bind");
            System.exit(3);
        }
        proxy.start();
        System.out.println("loopback launcher: listening on 127.0.0.1 only");
    }
}
