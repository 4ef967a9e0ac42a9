"""yolo5: the SQS worker that runs YOLOv5 on photos and hands the results back to polybot."""
