# The image of a node of an exported topology (ockamtop export): ockamtop
# alone, FROM scratch, so that it builds without a registry. Build the
# static binary first, then the image, from the repository's root:
#
#   CGO_ENABLED=0 go build -o ockamtop ./cmd/ockamtop
#   docker build -t ockamtop .
#
# A topology whose nodes run exec blocks needs an image that holds their
# programs too: build one FROM this one (export --image names it).
FROM scratch
COPY ockamtop /ockamtop
ENV OCKAMTOP_HOME=/ockamtop-home
ENTRYPOINT ["/ockamtop"]
