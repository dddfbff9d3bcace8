//! The unary `Export` call of an OTLP service with an already encoded request: a
//! codec that passes the bytes through and reads the answer only for its status.

use bytes::{Buf as _, BufMut as _, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use super::Service;

struct Raw;

impl Codec for Raw {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Self::Encoder {
        Raw
    }

    fn decoder(&mut self) -> Self::Decoder {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = ();
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, tonic::Status> {
        src.advance(src.remaining());
        Ok(Some(()))
    }
}

pub(super) async fn call(
    channel: tonic::transport::Channel,
    request: tonic::Request<Bytes>,
    service: Service,
) -> Result<(), tonic::Status> {
    let path = http::uri::PathAndQuery::from_static(match service {
        Service::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        Service::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    });
    let mut client = tonic::client::Grpc::new(channel);
    client
        .ready()
        .await
        .map_err(|e| tonic::Status::unknown(format!("Service was not ready: {e}")))?;
    client.unary(request, path, Raw).await.map(drop)
}
