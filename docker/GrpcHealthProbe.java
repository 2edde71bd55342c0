import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;

import java.util.concurrent.TimeUnit;

/**
 * {@code GrpcHealthProbe HOST:PORT [SERVICE]}: exit 0 when grpc.health.v1.Health/Check answers SERVING,
 * 1 otherwise. The check Kubernetes' {@code grpc:} probe and grpc_health_probe make, for Docker's
 * HEALTHCHECK and compose, where neither exists. Built into the image from docker/GrpcHealthProbe.java.
 */
public final class GrpcHealthProbe {
    public static void main(String[] args) throws InterruptedException {
        if (args.length < 1 || args.length > 2 || !args[0].contains(":")) {
            System.err.println("usage: GrpcHealthProbe HOST:PORT [SERVICE]");
            System.exit(2);
        }
        int colon = args[0].lastIndexOf(':');
        String host = args[0].substring(0, colon);
        int port = Integer.parseInt(args[0].substring(colon + 1));
        String service = args.length == 2 ? args[1] : "";
        ManagedChannel channel = NettyChannelBuilder.forAddress(host, port).usePlaintext().build();
        int code;
        try {
            HealthCheckResponse.ServingStatus status = HealthGrpc.newBlockingStub(channel)
                    .withDeadlineAfter(5, TimeUnit.SECONDS)
                    .check(HealthCheckRequest.newBuilder().setService(service).build())
                    .getStatus();
            System.out.println(args[0] + " " + status);
            code = status == HealthCheckResponse.ServingStatus.SERVING ? 0 : 1;
        } catch (StatusRuntimeException e) {
            System.out.println(args[0] + " " + e.getStatus().getCode() + ": " + e.getStatus().getDescription());
            code = 1;
        } finally {
            channel.shutdownNow().awaitTermination(1, TimeUnit.SECONDS);
        }
        System.exit(code);
    }
}
