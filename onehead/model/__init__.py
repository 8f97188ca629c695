"""The network: a frozen pretrained backbone, one FPN layer and the one head (`net.build_model`)."""
